package broker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// LoadConfig reads a nautilus.yaml file: ${VAR} references in values are
// expanded from the environment (an unset variable is an error naming it;
// $$ is a literal $; comments are left alone), unknown keys are errors naming
// them, relative paths are resolved against the file's folder, and the
// result is validated. Every mistake is returned as a *ConfigError.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, &ConfigError{Key: "file", Err: err}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Config{}, &ConfigError{Key: "file", Err: err}
	}
	return ParseConfig(data, filepath.Dir(abs), os.LookupEnv)
}

// ParseConfig is LoadConfig on data already read: dir is the folder relative
// paths resolve against, lookup the environment.
func ParseConfig(data []byte, dir string, lookup func(string) (string, bool)) (Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Config{}, &ConfigError{Key: "file", Err: fmt.Errorf("not valid YAML: %w", err)}
	}
	var c Config
	if len(root.Content) > 0 {
		doc := root.Content[0]
		if err := checkKeys(doc, reflect.TypeOf(Config{}), ""); err != nil {
			return Config{}, err
		}
		// Expanding values one by one, rather than the raw text, keeps a
		// variable's value from changing the document's structure.
		if err := expandNode(doc, lookup, ""); err != nil {
			return Config{}, err
		}
		expanded, err := yaml.Marshal(doc)
		if err != nil {
			return Config{}, &ConfigError{Key: "file", Err: err}
		}
		// KnownFields is a second guard behind checkKeys, which names keys
		// by path.
		dec := yaml.NewDecoder(bytes.NewReader(expanded))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return Config{}, &ConfigError{Key: "file", Err: err}
		}
	}
	c = c.withDefaults().resolvePaths(dir)
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// expandNode replaces ${VAR} and $VAR in every scalar value under n; $$
// stands for $.
func expandNode(n *yaml.Node, lookup func(string) (string, bool), path string) error {
	switch n.Kind {
	case yaml.ScalarNode:
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
			return &ConfigError{Key: path, Err: fmt.Errorf("environment variable %s is not set (line %d)", missing, n.Line)}
		}
		if out != n.Value {
			n.Value = out
			if n.Style == 0 {
				n.Tag = "" // a plain scalar resolves anew: ${ENABLED} may be a bool
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			sub := n.Content[i].Value
			if path != "" {
				sub = path + "." + sub
			}
			if err := expandNode(n.Content[i+1], lookup, sub); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := expandNode(c, lookup, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkKeys walks a YAML node against the struct type t and reports the first
// mapping key that has no field, by its path ("persistence.wal_backnd").
func checkKeys(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil // the decoder reports the type mismatch
		}
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
			if tag != "" && tag != "-" {
				fields[tag] = t.Field(i).Type
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			sub := key
			if path != "" {
				sub = path + "." + key
			}
			ft, ok := fields[key]
			if !ok {
				return &ConfigError{Key: sub, Err: fmt.Errorf("unknown key (line %d); known keys here: %s",
					n.Content[i].Line, strings.Join(sortedKeys(fields), ", "))}
			}
			if err := checkKeys(n.Content[i+1], ft, sub); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return nil
		}
		for i, c := range n.Content {
			if err := checkKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func sortedKeys(m map[string]reflect.Type) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
