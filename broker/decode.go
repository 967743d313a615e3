package broker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeRequest parses a POST /v1/request body strictly, where
// encoding/json is lenient: keys match their field's JSON name exactly
// (AGENT_ID is not agent_id), a key may appear once, unknown keys, null
// values and data after the object are refused, and so is text that is not
// valid UTF-8 or escapes a lone UTF-16 surrogate (either would be decoded as
// U+FFFD, merging distinct ids). Every string field is bounded by lim. Every
// refusal is a *RequestError naming the field.
func decodeRequest(body []byte, lim LimitsConfig) (Request, error) {
	var req Request
	d := &strictDecoder{dec: json.NewDecoder(bytes.NewReader(body)), body: body, lim: lim}
	if err := d.object(reflect.ValueOf(&req).Elem(), ""); err != nil {
		return Request{}, err
	}
	if _, err := d.dec.Token(); err != io.EOF {
		return Request{}, &RequestError{Msg: "request body has data after the JSON object"}
	}
	return req, nil
}

type strictDecoder struct {
	dec  *json.Decoder
	body []byte
	lim  LimitsConfig
}

// syntax reports malformed JSON.
func syntax(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return &RequestError{Msg: "request body is not a valid request: " + err.Error()}
}

// object decodes a JSON object into the struct v, found at path.
func (d *strictDecoder) object(v reflect.Value, path string) error {
	tok, err := d.dec.Token()
	if err != nil {
		return syntax(err)
	}
	if tok != json.Delim('{') {
		if path == "" {
			return &RequestError{Msg: "request body is not a valid request: want a JSON object, got " + describeToken(tok)}
		}
		return &RequestError{Field: path, Msg: "want an object, got " + describeToken(tok)}
	}
	fields := jsonFields(v.Type())
	seen := map[string]bool{}
	for d.dec.More() {
		start := d.dec.InputOffset()
		tok, err := d.dec.Token()
		if err != nil {
			return syntax(err)
		}
		key := tok.(string) // More and Token guarantee a key here
		name := joinKey(path, key)
		if err := checkText(d.body[start:d.dec.InputOffset()]); err != nil {
			return &RequestError{Field: strconv.Quote(name), Msg: "key " + err.Error()}
		}
		idx, ok := fields[key]
		if !ok {
			return &RequestError{Field: name, Msg: unknownField(fields, key)}
		}
		if seen[key] {
			return &RequestError{Field: name, Msg: "duplicate key"}
		}
		seen[key] = true
		if err := d.value(v.Field(idx), name); err != nil {
			return err
		}
	}
	if tok, err := d.dec.Token(); err != nil || tok != json.Delim('}') {
		if err == nil {
			err = fmt.Errorf("want the end of the object, got %v", tok)
		}
		return syntax(err)
	}
	return nil
}

// value decodes the value at path into the field fv.
func (d *strictDecoder) value(fv reflect.Value, path string) error {
	if fv.Kind() == reflect.Struct {
		return d.object(fv, path)
	}
	var raw json.RawMessage
	if err := d.dec.Decode(&raw); err != nil {
		return syntax(err)
	}
	if err := checkText(raw); err != nil {
		return &RequestError{Field: path, Msg: err.Error()}
	}
	if string(raw) == "null" {
		return &RequestError{Field: path, Msg: "want " + typeName(fv.Type()) + ", got null"}
	}
	if err := json.Unmarshal(raw, fv.Addr().Interface()); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return &RequestError{Field: path, Msg: fmt.Sprintf("want %s, got %s", typeName(fv.Type()), ute.Value)}
		}
		return &RequestError{Field: path, Msg: err.Error()}
	}
	if fv.Kind() == reflect.String {
		return d.lim.checkString(path, path, fv.String())
	}
	return nil
}

func describeToken(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			return "an array"
		}
	case string:
		return "a string"
	case nil:
		return "null"
	case bool:
		return "a bool"
	case float64, json.Number:
		return "a number"
	}
	return fmt.Sprint(tok)
}

// unknownField says that key is not a field, pointing at the field it
// differs from in case only.
func unknownField(fields map[string]int, key string) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		if strings.EqualFold(n, key) {
			return fmt.Sprintf("unknown field %q: keys are case-sensitive, this one is spelled %q", key, n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return fmt.Sprintf("unknown field %q (known here: %s)", key, strings.Join(names, ", "))
}

// jsonFieldsCache maps a struct type to its fields by JSON name.
var jsonFieldsCache sync.Map

// jsonFields returns the index of each of t's fields by its JSON name.
func jsonFields(t reflect.Type) map[string]int {
	if m, ok := jsonFieldsCache.Load(t); ok {
		return m.(map[string]int)
	}
	m := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = i
	}
	jsonFieldsCache.Store(t, m)
	return m
}

// checkText refuses raw JSON text that is not valid UTF-8 or that escapes
// a lone surrogate (\ud800 without its pair): encoding/json would decode
// either as U+FFFD.
func checkText(raw []byte) error {
	if !utf8.Valid(raw) {
		return errors.New("not valid UTF-8")
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++ // the escaped character; the loop steps over it
		if i >= len(raw) || raw[i] != 'u' {
			continue
		}
		r, ok := hex4(raw, i+1)
		if !ok {
			return errors.New("bad \\u escape")
		}
		i += 4
		if !utf16.IsSurrogate(r) {
			continue
		}
		if r < 0xdc00 && i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
			if lo, ok := hex4(raw, i+3); ok && lo >= 0xdc00 && lo <= 0xdfff {
				i += 6
				continue
			}
		}
		return fmt.Errorf("escapes a lone UTF-16 surrogate (%s), which is not valid UTF-8", raw[i-5:i+1])
	}
	return nil
}

// hex4 parses the four hex digits at raw[at:].
func hex4(raw []byte, at int) (rune, bool) {
	if at+4 > len(raw) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(raw[at:at+4]), 16, 16)
	return rune(n), err == nil
}
