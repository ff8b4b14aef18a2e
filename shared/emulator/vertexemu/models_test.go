package vertexemu

import (
	"fmt"
	"math"
	"strconv"

	"github.com/dropcast/dropcast/shared/model"
)

// testModel is a predictor of a known formula over one numeric column num
// and one category column cat: a regression predicting 2*num + len(cat), or
// a classifier whose scores are the softmax of (num, len(cat), 1, 0, 0, ...),
// one term per class.
type testModel struct {
	target   string
	classes  []string // nil: a regression
	num, cat string
}

var (
	speciesModel = testModel{target: "species", classes: []string{"setosa", "versicolor", "virginica"}, num: "x", cat: "kind"}
	priceModel   = testModel{target: "price", num: "x", cat: "kind"}
)

func (m testModel) Task() model.Task {
	if m.classes == nil {
		return model.Regression
	}
	return model.Classification
}
func (m testModel) Target() string           { return m.target }
func (m testModel) Classes() []string        { return m.classes }
func (m testModel) Columns() []string        { return []string{m.num, m.cat} }
func (m testModel) NumericColumns() []string { return []string{m.num} }

func (m testModel) Predict(row map[string]string) (model.Prediction, error) {
	x, err := strconv.ParseFloat(row[m.num], 64)
	if err != nil {
		return model.Prediction{}, fmt.Errorf("column %q: %w", m.num, err)
	}
	k := float64(len(row[m.cat]))
	if m.classes == nil {
		return model.Prediction{Value: 2*x + k}, nil
	}
	z := make([]float64, len(m.classes))
	copy(z, []float64{x, k, 1})
	var sum float64
	for _, v := range z {
		sum += math.Exp(v)
	}
	p := model.Prediction{Scores: map[string]float64{}}
	for i, c := range m.classes {
		p.Scores[c] = math.Exp(z[i]) / sum
		if p.Label == "" || p.Scores[c] > p.Scores[p.Label] {
			p.Label = c
		}
	}
	return p, nil
}

var _ model.Predictor = testModel{}
