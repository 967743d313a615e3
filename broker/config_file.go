package broker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// LoadConfig reads a nautilus.yaml file: ${VAR} references in values are
// expanded from the environment (an unset variable is an error naming it;
// $$ is a literal $; comments are left alone), unknown keys and values of the
// wrong type are errors naming them, an empty file is an error, relative
// paths are resolved against the file's folder, and the result is validated.
// Every mistake is returned as a *ConfigError naming path.
func LoadConfig(path string) (Config, error) { return LoadConfigWith(path, nil) }

// LoadConfigWith is LoadConfig with override, when not nil, applied to the
// settings read from the file (paths resolved, defaults filled) before they
// are validated: a command line's flags, which must be validated with the
// rest. A mistake in a key override set still names the file (and the
// key's line there, if any): the caller, knowing which keys it set, may
// clear ConfigError.File and Line.
func LoadConfigWith(path string, override func(*Config)) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var perr *fs.PathError
		if errors.As(err, &perr) {
			err = perr.Err // the path is in the ConfigError
		}
		return Config{}, &ConfigError{File: path, Err: err}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Config{}, &ConfigError{File: path, Err: err}
	}
	c, err := parseConfig(data, filepath.Dir(abs), os.LookupEnv, override)
	var ce *ConfigError
	if errors.As(err, &ce) {
		ce.File = path
	}
	return c, err
}

// ParseConfig is LoadConfig on data already read: dir is the folder relative
// paths resolve against, lookup the environment.
func ParseConfig(data []byte, dir string, lookup func(string) (string, bool)) (Config, error) {
	return parseConfig(data, dir, lookup, nil)
}

func parseConfig(data []byte, dir string, lookup func(string) (string, bool), override func(*Config)) (Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Config{}, &ConfigError{Err: fmt.Errorf("not valid YAML: %w", err)}
	}
	if len(root.Content) == 0 || isNull(root.Content[0]) ||
		(root.Content[0].Kind == yaml.MappingNode && len(root.Content[0].Content) == 0) {
		return Config{}, &ConfigError{Err: errors.New("empty (or only comments): a broker needs at least its sources")}
	}
	doc := root.Content[0]
	if err := checkNode(doc, reflect.TypeOf(Config{}), "", false); err != nil {
		return Config{}, err
	}
	// Expanding values one by one, rather than the raw text, keeps a
	// variable's value from changing the document's structure.
	if err := expandNode(doc, lookup); err != nil {
		return Config{}, err
	}
	// Types are checked after expansion: ${ENABLED} may be a bool.
	if err := checkNode(doc, reflect.TypeOf(Config{}), "", true); err != nil {
		return Config{}, err
	}
	expanded, err := yaml.Marshal(doc)
	if err != nil {
		return Config{}, &ConfigError{Err: err}
	}
	// KnownFields is a last guard behind checkNode, which names keys by path.
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, &ConfigError{Err: err}
	}
	c = c.withDefaults().resolvePaths(dir)
	if override != nil {
		override(&c)
	}
	if err := c.Validate(); err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			ce.Line = lineOf(doc, ce.Key)
		}
		return Config{}, err
	}
	return c, nil
}

// walkNode calls fn on every node under n (n itself not included) with its
// path ("persistence.wal_path", "sources[0].id") and the line it starts on:
// for a mapping value, its key's.
func walkNode(n *yaml.Node, path string, fn func(n *yaml.Node, path string, line int) error) error {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			sub := key.Value
			if path != "" {
				sub = path + "." + sub
			}
			if err := fn(val, sub, key.Line); err != nil {
				return err
			}
			if err := walkNode(val, sub, fn); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			sub := fmt.Sprintf("%s[%d]", path, i)
			if err := fn(c, sub, c.Line); err != nil {
				return err
			}
			if err := walkNode(c, sub, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// lineOf returns the line of the setting key in doc, or 0.
func lineOf(doc *yaml.Node, key string) int {
	errFound := errors.New("found")
	line := 0
	walkNode(doc, "", func(_ *yaml.Node, path string, l int) error {
		if path == key {
			line = l
			return errFound
		}
		return nil
	})
	return line
}

// expandNode replaces ${VAR} and $VAR in every scalar value under doc; $$
// stands for $.
func expandNode(doc *yaml.Node, lookup func(string) (string, bool)) error {
	return walkNode(doc, "", func(n *yaml.Node, path string, line int) error {
		if n.Kind != yaml.ScalarNode {
			return nil
		}
		var missing string
		out := os.Expand(n.Value, func(name string) string {
			if name == "$" {
				return "$"
			}
			v, ok := lookup(name)
			if !ok && missing == "" {
				missing = name
			}
			return v
		})
		if missing != "" {
			return &ConfigError{Key: path, Line: line, Err: fmt.Errorf("environment variable %s is not set", missing)}
		}
		if out != n.Value {
			n.Value = out
			if n.Style == 0 {
				n.Tag = "" // a plain scalar resolves anew: ${ENABLED} may be a bool
			}
		}
		return nil
	})
}

// checkNode walks a YAML node against the type t it decodes into and reports
// the first mapping key that has no field, by its path
// ("persistence.wal_backnd"), and, with types, the first value that t cannot
// hold ("persistence.wal_enabled: want a bool, got "maybe"").
func checkNode(n *yaml.Node, t reflect.Type, path string, types bool) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if isNull(n) {
		return nil // the zero value
	}
	wrongType := func() error {
		if !types {
			return nil
		}
		return &ConfigError{Key: path, Line: n.Line, Err: fmt.Errorf("want %s, got %s", typeName(t), describe(n))}
	}
	switch t.Kind() {
	case reflect.Interface:
		return nil // rows hold any value
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return wrongType()
		}
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
			if tag != "" && tag != "-" {
				fields[tag] = t.Field(i).Type
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i]
			sub := joinKey(path, key.Value)
			ft, ok := fields[key.Value]
			if !ok {
				return &ConfigError{Key: sub, Line: key.Line, Err: fmt.Errorf("unknown key; known keys here: %s",
					strings.Join(sortedKeys(fields), ", "))}
			}
			if err := checkNode(n.Content[i+1], ft, sub, types); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return wrongType()
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := checkNode(n.Content[i+1], t.Elem(), joinKey(path, n.Content[i].Value), types); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return wrongType()
		}
		for i, c := range n.Content {
			if err := checkNode(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), types); err != nil {
				return err
			}
		}
	default:
		if types && (n.Kind != yaml.ScalarNode || n.Decode(reflect.New(t).Interface()) != nil) {
			return wrongType()
		}
	}
	return nil
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// typeName says what a value of type t looks like in YAML.
func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "a bool"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.String()
}

// describe says what a YAML node holds.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

func sortedKeys(m map[string]reflect.Type) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
