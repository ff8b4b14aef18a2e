// Package modeltest has small model.Predictor values of known formulas, for
// tests of what serves models (the Vertex AI and AutoML emulators): a test
// can compute every expected score or value without a trained model.
package modeltest

import (
	"fmt"
	"math"
	"strconv"

	"github.com/dropcast/dropcast/shared/model"
)

// Formula predicts from one numeric column Num and one category column
// Cat: a regression (no Classes) of 2*num + len(cat), or a classifier whose
// scores are the softmax of (num, len(cat), 1, 0, 0, ...), one term per class.
type Formula struct {
	TargetColumn string
	ClassNames   []string // nil: a regression
	Num, Cat     string
}

// Species is a three-class classifier of "species" from x and kind; Price a
// regression of "price" from the same columns.
var (
	Species = Formula{TargetColumn: "species", ClassNames: []string{"setosa", "versicolor", "virginica"}, Num: "x", Cat: "kind"}
	Price   = Formula{TargetColumn: "price", Num: "x", Cat: "kind"}
)

var _ model.Predictor = Formula{}

// Task is Regression without classes, else Classification.
func (m Formula) Task() model.Task {
	if m.ClassNames == nil {
		return model.Regression
	}
	return model.Classification
}

// Target is the predicted column.
func (m Formula) Target() string { return m.TargetColumn }

// Classes are the classes, nil for a regression.
func (m Formula) Classes() []string { return m.ClassNames }

// Columns are Num and Cat.
func (m Formula) Columns() []string { return []string{m.Num, m.Cat} }

// NumericColumns is Num.
func (m Formula) NumericColumns() []string { return []string{m.Num} }

// Predict computes the formula; Num must be a number.
func (m Formula) Predict(row map[string]string) (model.Prediction, error) {
	x, err := strconv.ParseFloat(row[m.Num], 64)
	if err != nil {
		return model.Prediction{}, fmt.Errorf("column %q: %w", m.Num, err)
	}
	k := float64(len(row[m.Cat]))
	if m.ClassNames == nil {
		return model.Prediction{Value: 2*x + k}, nil
	}
	z := make([]float64, len(m.ClassNames))
	copy(z, []float64{x, k, 1})
	var sum float64
	for _, v := range z {
		sum += math.Exp(v)
	}
	p := model.Prediction{Scores: map[string]float64{}}
	for i, c := range m.ClassNames {
		p.Scores[c] = math.Exp(z[i]) / sum
		if p.Label == "" || p.Scores[c] > p.Scores[p.Label] {
			p.Label = c
		}
	}
	return p, nil
}
