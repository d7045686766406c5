// Package yamlconf is the shared scaffolding of Kairos's strict YAML
// configuration parsers (the campaigns file of decisioning, the channels
// file of dispatch): errors that name the file, line and column, the field
// path and the rule that was broken (Error, Errorf); yaml.v3's own errors
// turned into such errors (FromYAML, which the feature definitions of
// features use too); alias resolution (Deref); field paths (JoinPath);
// mappings that refuse unknown and repeated keys (Mapping, Fields); and the
// rules of single values (Scalar, Number).
//
// The helpers report problems and leave the strategy to the parser: one
// stops at the first problem, another collects them all. yamlconf imports
// only the standard library and go.yaml.in/yaml/v3.
package yamlconf

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error is a problem in a configuration file: where it is and which rule
// it breaks. Its text reads
// "campaigns.yaml:14:11: campaigns[0].policy.kind: unknown policy ...".
type Error struct {
	File string
	// Line and Column locate the offending node (1-based); Column is 0
	// when unknown.
	Line, Column int
	// Path names the field, e.g. "campaigns[0].policy.kind"; empty for the
	// file as a whole.
	Path string
	// Msg states the rule that was broken.
	Msg string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(e.Line))
	if e.Column > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Column))
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errorf returns the problem of the field at path, whose node is n, in
// file; it is placed at the file's first line when n is nil or has no
// position.
func Errorf(file string, n *yaml.Node, path, format string, args ...any) *Error {
	e := &Error{File: file, Line: 1, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil && n.Line > 0 {
		e.Line, e.Column = n.Line, n.Column
	}
	return e
}

// FromYAML turns an error of yaml.Unmarshal into an Error at the line it
// names (the first line when it names none): yaml.v3 messages start with
// "yaml: line N: ...".
func FromYAML(file string, err error) *Error {
	e := &Error{File: file, Line: 1}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		e.Msg = strings.Join(te.Errors, "; ")
		return e
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ":"); ok {
			if l, err := strconv.Atoi(n); err == nil {
				e.Line, msg = l, strings.TrimSpace(after)
			}
		}
	}
	e.Msg = "invalid YAML: " + msg
	return e
}

// Deref follows aliases (*anchor) to the node they name.
func Deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 16; i++ {
		n = n.Alias
	}
	return n
}

// JoinPath returns the path of field key of the mapping at path.
func JoinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Mapping checks that n is a mapping whose keys are among keys, each given
// once, and returns its values by key (aliases resolved; a key with a null
// value is absent) and the problems found, in the order of the file. When
// n is not a mapping it returns a nil map and that one problem.
func Mapping(file string, n *yaml.Node, path string, keys ...string) (map[string]*yaml.Node, []*Error) {
	if n == nil || n.Kind != yaml.MappingNode {
		if path == "" {
			return nil, []*Error{Errorf(file, n, path, "the file must be a mapping with keys %s", strings.Join(keys, ", "))}
		}
		return nil, []*Error{Errorf(file, n, path, "must be a mapping with keys %s", strings.Join(keys, ", "))}
	}
	what := path
	if what == "" {
		what = "the file"
	}
	return Fields(file, n, path, keys, func(k string) string {
		return fmt.Sprintf("unknown key %q; %s takes %s", k, what, strings.Join(keys, ", "))
	})
}

// Fields is Mapping for a node known to be a mapping: unknown states the
// rule broken by a key that is not among keys.
func Fields(file string, n *yaml.Node, path string, keys []string, unknown func(key string) string) (map[string]*yaml.Node, []*Error) {
	m := make(map[string]*yaml.Node, len(keys))
	seen := make(map[string]bool, len(keys))
	var errs []*Error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := Deref(n.Content[i]), Deref(n.Content[i+1])
		if k == nil || v == nil {
			continue
		}
		kp := JoinPath(path, k.Value)
		if k.Kind != yaml.ScalarNode || !slices.Contains(keys, k.Value) {
			errs = append(errs, Errorf(file, k, kp, "%s", unknown(k.Value)))
			continue
		}
		if seen[k.Value] {
			errs = append(errs, Errorf(file, k, kp, "key %q is given twice", k.Value))
			continue
		}
		seen[k.Value] = true
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			continue
		}
		m[k.Value] = v
	}
	return m, errs
}

// Scalar returns the text of n, which must be a single value.
func Scalar(file string, n *yaml.Node, path string) (string, *Error) {
	if n.Kind != yaml.ScalarNode {
		return "", Errorf(file, n, path, "must be a single value, not a list or mapping")
	}
	return n.Value, nil
}

// Number parses n as a finite number; 0 with the problem when it is not
// one.
func Number(file string, n *yaml.Node, path string) (float64, *Error) {
	s, e := Scalar(file, n, path)
	if e != nil {
		return 0, e
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, Errorf(file, n, path, "%q is not a finite number", s)
	}
	return f, nil
}
