package models

import "math"

// Categories maps a categorical feature's values to LightGBM codes, as
// pandas.Categorical does: the i-th category is code i; an unseen value is
// NaN (LightGBM's handling of unseen/missing categories: LightGBM's Python
// package turns pandas' code -1 into NaN, and NaN takes the right child of
// every categorical split). The zero Categories maps everything to NaN.
type Categories struct {
	codes map[string]float64
}

// NewCategories returns the mapping of values, in pandas_categorical order
// (a manifest's list, or the model's pandas_categorical). A repeated value
// keeps its first code.
func NewCategories(values []string) Categories {
	c := Categories{codes: make(map[string]float64, len(values))}
	for i, v := range values {
		if _, dup := c.codes[v]; !dup {
			c.codes[v] = float64(i)
		}
	}
	return c
}

// Code returns value's code, or NaN when value is not a category. It
// allocates nothing.
func (c Categories) Code(value string) float64 {
	if code, ok := c.codes[value]; ok {
		return code
	}
	return math.NaN()
}

// Len is the number of categories.
func (c Categories) Len() int { return len(c.codes) }
