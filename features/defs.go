package features

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"kairos/internal/yamlconf"
)

// Agg is an aggregation over the events of a window.
type Agg string

// The aggregations.
const (
	Count      Agg = "count"
	Sum        Agg = "sum"
	Min        Agg = "min"
	Max        Agg = "max"
	Last       Agg = "last"
	Distinct   Agg = "distinct"
	SinceLast  Agg = "since_last"
	SinceFirst Agg = "since_first"
)

var aggs = []Agg{Count, Sum, Min, Max, Last, Distinct, SinceLast, SinceFirst}

// Window limits. A window of 0 means lifetime.
const (
	MinWindow   = 5 * time.Minute
	MaxWindow   = 90 * 24 * time.Hour
	MaxFeatures = 256
	// AnyEvent as a definition's event matches every event type.
	AnyEvent = "*"
)

// Definition is one feature as written in the definitions file.
type Definition struct {
	Name string
	// Event is the event type counted, or AnyEvent.
	Event string
	// Where restricts events to those whose properties equal these values
	// (compared as Value.String renders them).
	Where map[string]string
	Agg   Agg
	// Field is the property aggregated (sum, min, max, last, distinct).
	Field string
	// Window is the window length; 0 means lifetime.
	Window time.Duration
	// Ratio, when set, names the numerator and denominator features; the
	// other fields are then empty.
	Ratio [2]string
	// Line is the line of the definition in its file.
	Line int
}

// DefinitionError is a problem in a definitions file, with its position.
type DefinitionError struct {
	File string
	Line int
	Msg  string
}

func (e *DefinitionError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

//go:embed defaults.yaml
var defaultYAML []byte

// DefaultYAML returns the built-in feature definitions file.
func DefaultYAML() []byte { return slices.Clone(defaultYAML) }

// Default returns the built-in feature set.
func Default() *Set {
	s, err := Parse(defaultYAML, "features/defaults.yaml")
	if err != nil {
		panic("features: built-in definitions are invalid: " + err.Error())
	}
	return s
}

// Load reads and compiles a definitions file.
func Load(path string) (*Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	return Parse(b, path)
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Parse compiles a definitions file. file names it in errors, which carry
// the line and say what rule was broken.
func Parse(data []byte, file string) (*Set, error) {
	fail := func(line int, format string, args ...any) error {
		return &DefinitionError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		e := yamlconf.FromYAML(file, err)
		return nil, fail(e.Line, "%s", e.Msg)
	}
	if len(doc.Content) == 0 {
		return nil, fail(1, "empty file: expected a mapping with a 'features' list")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fail(root.Line, "expected a mapping with a 'features' list")
	}
	var defs []Definition
	var custom []string
	seenFeatures := false
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "features":
			seenFeatures = true
			if v.Kind != yaml.SequenceNode {
				return nil, fail(v.Line, "'features' must be a list")
			}
			for _, n := range v.Content {
				d, err := parseDefinition(n, fail)
				if err != nil {
					return nil, err
				}
				defs = append(defs, d)
			}
		case "custom_events":
			if v.Kind != yaml.SequenceNode {
				return nil, fail(v.Line, "'custom_events' must be a list of event type names")
			}
			for _, n := range v.Content {
				if n.Kind != yaml.ScalarNode || !nameRE.MatchString(n.Value) {
					return nil, fail(n.Line, "custom event type %q must match %s", n.Value, nameRE)
				}
				if slices.Contains(StandardTypes, n.Value) || slices.Contains(custom, n.Value) {
					return nil, fail(n.Line, "event type %q is declared twice (or is a standard type)", n.Value)
				}
				custom = append(custom, n.Value)
			}
		default:
			return nil, fail(k.Line, "unknown key %q: expected 'features' or 'custom_events'", k.Value)
		}
	}
	if !seenFeatures || len(defs) == 0 {
		return nil, fail(root.Line, "'features' must list at least one feature")
	}
	if len(defs) > MaxFeatures {
		return nil, fail(root.Line, "at most %d features may be defined, got %d", MaxFeatures, len(defs))
	}
	return compile(defs, custom, fail)
}

func parseDefinition(n *yaml.Node, fail func(int, string, ...any) error) (Definition, error) {
	d := Definition{Line: n.Line}
	if n.Kind != yaml.MappingNode {
		return d, fail(n.Line, "a feature must be a mapping such as {name: logins_7d, event: login, agg: count, window: 7d}")
	}
	seen := map[string]bool{}
	var hasWindow bool
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			return d, fail(k.Line, "key %q is given twice", k.Value)
		}
		seen[k.Value] = true
		scalar := func() (string, error) {
			if v.Kind != yaml.ScalarNode {
				return "", fail(v.Line, "%q must be a single value", k.Value)
			}
			return v.Value, nil
		}
		var err error
		switch k.Value {
		case "name":
			d.Name, err = scalar()
		case "event":
			d.Event, err = scalar()
		case "field":
			d.Field, err = scalar()
		case "agg":
			var a string
			a, err = scalar()
			d.Agg = Agg(a)
		case "window":
			var w string
			if w, err = scalar(); err == nil {
				hasWindow = true
				d.Window, err = parseWindow(w)
				if err != nil {
					err = fail(v.Line, "window %q: %v", w, err)
				}
			}
		case "where":
			if v.Kind != yaml.MappingNode || len(v.Content) == 0 {
				return d, fail(v.Line, "'where' must be a non-empty mapping of property: value")
			}
			d.Where = map[string]string{}
			for j := 0; j+1 < len(v.Content); j += 2 {
				wk, wv := v.Content[j], v.Content[j+1]
				if wv.Kind != yaml.ScalarNode || wk.Value == "" || len(wk.Value) > MaxPropertyKeyBytes {
					return d, fail(wk.Line, "'where' entries must be property: value with a key of 1-%d bytes", MaxPropertyKeyBytes)
				}
				d.Where[wk.Value] = CanonicalScalar(wv)
			}
		case "ratio":
			if v.Kind != yaml.SequenceNode || len(v.Content) != 2 {
				return d, fail(v.Line, "'ratio' must list exactly two features: [numerator, denominator]")
			}
			d.Ratio = [2]string{v.Content[0].Value, v.Content[1].Value}
		default:
			return d, fail(k.Line, "unknown key %q: expected name, event, where, agg, field, window or ratio", k.Value)
		}
		if err != nil {
			return d, err
		}
	}
	if !nameRE.MatchString(d.Name) {
		return d, fail(n.Line, "feature name %q must match %s", d.Name, nameRE)
	}
	if d.Ratio[0] != "" {
		if d.Event != "" || d.Agg != "" || d.Field != "" || hasWindow || d.Where != nil {
			return d, fail(n.Line, "feature %q: a ratio takes only name and ratio", d.Name)
		}
		return d, nil
	}
	if d.Event == "" {
		return d, fail(n.Line, "feature %q: 'event' is required (an event type or \"*\")", d.Name)
	}
	if !slices.Contains(aggs, d.Agg) {
		return d, fail(n.Line, "feature %q: 'agg' must be one of %v, got %q", d.Name, aggs, d.Agg)
	}
	needsField := d.Agg == Sum || d.Agg == Min || d.Agg == Max || d.Agg == Last || d.Agg == Distinct
	if needsField && d.Field == "" {
		return d, fail(n.Line, "feature %q: agg %s needs a 'field' (the property to aggregate)", d.Name, d.Agg)
	}
	if !needsField && d.Field != "" {
		return d, fail(n.Line, "feature %q: agg %s takes no 'field'", d.Name, d.Agg)
	}
	return d, nil
}

// CanonicalScalar renders a YAML scalar as Value.String renders the
// property it is compared with: the value of a property filter ("where").
func CanonicalScalar(n *yaml.Node) string {
	switch n.Tag {
	case "!!int", "!!float":
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return formatFloat(f)
		}
	case "!!bool":
		if b, err := strconv.ParseBool(strings.ToLower(n.Value)); err == nil {
			return strconv.FormatBool(b)
		}
	}
	return n.Value
}

// parseWindow parses "lifetime" or a whole number of minutes (m), hours (h)
// or days (d), e.g. 5m, 90m, 24h, 7d.
func parseWindow(s string) (time.Duration, error) {
	if s == "lifetime" {
		return 0, nil
	}
	if len(s) < 2 {
		return 0, errors.New(`must be a number with unit m, h or d (e.g. 30m, 24h, 7d) or "lifetime"`)
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n <= 0 {
		return 0, errors.New(`must be a positive whole number with unit m, h or d (e.g. 30m, 24h, 7d) or "lifetime"`)
	}
	var unit time.Duration
	switch s[len(s)-1] {
	case 'm':
		unit = time.Minute
	case 'h':
		unit = time.Hour
	case 'd':
		unit = 24 * time.Hour
	default:
		return 0, errors.New(`unit must be m, h or d (e.g. 30m, 24h, 7d), or the window "lifetime"`)
	}
	if n > int(MaxWindow/unit) {
		return 0, errors.New("must be at most 90d")
	}
	w := time.Duration(n) * unit
	if w < MinWindow {
		return 0, errors.New("must be at least 5m")
	}
	g := granularityFor(w)
	if w%g.size != 0 {
		return 0, fmt.Errorf("a window of this length is tiled in %s tiles and must be a whole number of them", g.name)
	}
	return w, nil
}
