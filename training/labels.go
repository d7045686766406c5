package training

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"kairos/features"
)

// LabelKind is what a label measures after the snapshot time.
type LabelKind uint8

// The label kinds. Each looks only at events strictly after the snapshot
// time t and at most Horizon later: the window (t, t+Horizon].
const (
	// Churn is 1 when the customer has no activity event (see
	// DefaultActivity) in the window, else 0.
	Churn LabelKind = iota + 1
	// Purchase is 1 when the customer makes a purchase in the window.
	Purchase
	// NextCategory is the category property of the customer's first purchase
	// in the window: "none" without a purchase, "unknown" when that purchase
	// has no category.
	NextCategory
)

// Label is one label column of a training set, e.g. churn30.
type Label struct {
	Name    string
	Kind    LabelKind
	Horizon time.Duration
}

// DefaultActivity is the event types that count as activity for churn
// labels: what a customer does, not what is done to them (messages).
var DefaultActivity = []string{"session_start", "login", "page_view", "click", "feature_used", "scroll", "add_to_cart", "purchase"}

var labelPrefixes = []struct {
	prefix string
	kind   LabelKind
}{{"churn", Churn}, {"purchase", Purchase}, {"next_category", NextCategory}}

// ParseLabels parses a comma-separated label list: churnN, purchaseN and
// next_categoryN, where N is the horizon in days (1 to 365).
func ParseLabels(s string) ([]Label, error) {
	var labels []Label
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		l, err := parseLabel(name)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(labels, func(o Label) bool { return o.Name == name }) {
			return nil, fmt.Errorf("labels: %q is given twice", name)
		}
		labels = append(labels, l)
	}
	return labels, nil
}

func parseLabel(name string) (Label, error) {
	for _, p := range labelPrefixes {
		rest, ok := strings.CutPrefix(name, p.prefix)
		if !ok {
			continue
		}
		days, err := strconv.Atoi(rest)
		if err != nil || days < 1 || days > 365 || strconv.Itoa(days) != rest {
			return Label{}, fmt.Errorf("labels: %q: the horizon after %q must be a whole number of days from 1 to 365, e.g. %s30", name, p.prefix, p.prefix)
		}
		return Label{Name: name, Kind: p.kind, Horizon: time.Duration(days) * 24 * time.Hour}, nil
	}
	return Label{}, fmt.Errorf("labels: unknown label %q; labels are churnN, purchaseN and next_categoryN (N days), e.g. churn30,purchase7,next_category14", name)
}

// futures is what the labels of one customer need to know: the times of
// its activity and of its purchases with their categories, in time order.
type futures struct {
	activity   []int64 // unix ms
	purchases  []int64
	categories []string
}

// labelIndex holds every customer's futures, built in a first pass over the
// archive.
type labelIndex struct {
	activity map[string]bool
	byID     map[string]*futures
	interned map[string]string
}

func newLabelIndex(activity []string) *labelIndex {
	ix := &labelIndex{activity: map[string]bool{}, byID: map[string]*futures{}, interned: map[string]string{}}
	for _, t := range activity {
		ix.activity[t] = true
	}
	return ix
}

// add records one event; events come in time order.
func (ix *labelIndex) add(e *features.Event) {
	isActivity, isPurchase := ix.activity[e.Type], e.Type == "purchase"
	if !isActivity && !isPurchase {
		return
	}
	f := ix.byID[e.CustomerID]
	if f == nil {
		f = &futures{}
		ix.byID[strings.Clone(e.CustomerID)] = f
	}
	ms := e.Time.UnixMilli()
	if isActivity {
		f.activity = append(f.activity, ms)
	}
	if isPurchase {
		cat := "unknown"
		if v, ok := e.Properties["category"]; ok && v.String() != "" {
			cat = v.String()
		}
		if in, ok := ix.interned[cat]; ok {
			cat = in
		} else {
			cat = strings.Clone(cat)
			ix.interned[cat] = cat
		}
		f.purchases = append(f.purchases, ms)
		f.categories = append(f.categories, cat)
	}
}

// firstAfter returns the index of the first time strictly after t.
func firstAfter(times []int64, t int64) int {
	i, _ := slices.BinarySearch(times, t+1)
	return i
}

// value computes label l of customer id at t (unix ms): a 0/1 number or a
// category, and whether it is known (false: the window runs past the end
// of the data, so the label is censored).
func (ix *labelIndex) value(l Label, id string, t, dataEnd int64) (num int8, cat string, known bool) {
	end := t + l.Horizon.Milliseconds()
	if end > dataEnd {
		return 0, "", false
	}
	f := ix.byID[id]
	if f == nil {
		f = &futures{}
	}
	switch l.Kind {
	case Churn:
		i := firstAfter(f.activity, t)
		if i < len(f.activity) && f.activity[i] <= end {
			return 0, "", true
		}
		return 1, "", true
	case Purchase:
		i := firstAfter(f.purchases, t)
		if i < len(f.purchases) && f.purchases[i] <= end {
			return 1, "", true
		}
		return 0, "", true
	default:
		i := firstAfter(f.purchases, t)
		if i < len(f.purchases) && f.purchases[i] <= end {
			return 0, f.categories[i], true
		}
		return 0, "none", true
	}
}
