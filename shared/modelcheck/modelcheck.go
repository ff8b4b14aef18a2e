// Package modelcheck checks a pipeline spec against the model it predicts
// with, before any file is dropped: the model must be one the local stack
// serves, and every column the model reads must be a column of the spec's
// clean rows, of a kind the model can read. dropcast local runs it at start
// and dropcast validate --model on demand; the prediction services would
// otherwise refuse the input only once a job runs (fixture
// vertex-input-missing-columns).
package modelcheck

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/dropcast/dropcast/shared/model"
	"github.com/dropcast/dropcast/shared/schema"
	"github.com/dropcast/dropcast/shared/spec"
)

// resourceName is projects/P/locations/L/models/ID.
var resourceName = regexp.MustCompile(`^projects/([^/]+)/locations/([^/]+)/models/([^/]+)$`)

// ParseName splits a model resource name, projects/P/locations/L/models/ID.
func ParseName(name string) (project, location, id string, ok bool) {
	m := resourceName.FindStringSubmatch(name)
	if m == nil {
		return "", "", "", false
	}
	return m[1], m[2], m[3], true
}

// Served finds the model a pipeline names among the models a local stack
// serves in project (by ID or by number) and location, by model ID. When it
// is not served, the error says which models are and how to serve one.
func Served(p *spec.Pipeline, served map[string]model.Predictor, project, projectNumber, location string) (string, model.Predictor, error) {
	name := p.Predict.Model
	proj, loc, id, ok := ParseName(name)
	if !ok {
		return "", nil, fmt.Errorf("pipeline %q: predict.model %q is not projects/PROJECT/locations/LOCATION/models/ID", p.Name, name)
	}
	if (proj != project && proj != projectNumber) || loc != location {
		return "", nil, fmt.Errorf("pipeline %q: predict.model %q is not in the local project: locally, models are projects/%s/locations/%s/models/ID\n%s",
			p.Name, name, project, location, howToServe(id))
	}
	if m, ok := served[id]; ok {
		return id, m, nil
	}
	ids := make([]string, 0, len(served))
	for k := range served {
		ids = append(ids, k)
	}
	slices.Sort(ids)
	return "", nil, fmt.Errorf("pipeline %q: model %q is not served by the local stack (it serves %s)\n%s",
		p.Name, id, strings.Join(ids, ", "), howToServe(id))
}

// howToServe is the help for serving model id locally.
func howToServe(id string) string {
	return fmt.Sprintf(`serve a model file as %[1]s with
  dropcast local --model %[1]s=FILE ...
where FILE is a dropcast model (JSON), or an XGBoost or LightGBM model with its sidecar; to train one from a labeled CSV:
  dropcast model train --target COLUMN --out FILE TRAIN.csv
  dropcast local --model %[1]s=FILE ...`, id)
}

// numericTypes are the spec column types whose clean values are numbers.
var numericTypes = []schema.Type{schema.Int64, schema.Float64, schema.Numeric}

// Check returns what is wrong with predicting p's clean rows with m: the
// model reads its own target; the spec names another target; a column the
// model reads is not a spec column (all of them named at once); or a
// column the model reads as a number is not a numeric spec column. Nil
// means the model can predict every clean row's columns.
func Check(p *spec.Pipeline, m model.Predictor) []string {
	var problems []string
	if slices.Contains(m.Columns(), m.Target()) {
		problems = append(problems, fmt.Sprintf("the model reads its own target %q as an input", m.Target()))
	}
	if t := p.Predict.Target; t != "" && t != m.Target() {
		problems = append(problems, fmt.Sprintf("predict.target is %q but the model predicts %q", t, m.Target()))
	}
	types := map[string]schema.Type{}
	for _, c := range p.Columns {
		types[c.Name] = c.Type
	}
	var missing []string
	for _, col := range m.Columns() {
		if _, ok := types[col]; !ok {
			missing = append(missing, col)
		}
	}
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("the clean rows lack column(s) %s that the model reads (the spec's columns are %s)",
			strings.Join(missing, ", "), strings.Join(p.CleanHeader()[:len(p.Columns)], ", ")))
	}
	for _, col := range m.NumericColumns() {
		if t, ok := types[col]; ok && !slices.Contains(numericTypes, t) {
			problems = append(problems, fmt.Sprintf("column %s is %s in the spec, but the model reads it as a number (want INT64, FLOAT64 or NUMERIC)", col, t))
		}
	}
	return problems
}

// Describe is one line saying what m predicts from what.
func Describe(m model.Predictor) string {
	what := "a number (regression)"
	if m.Task() == model.Classification {
		what = fmt.Sprintf("one of %d classes (%s)", len(m.Classes()), strings.Join(m.Classes(), ", "))
	}
	return fmt.Sprintf("predicts %s: %s from %s", m.Target(), what, strings.Join(m.Columns(), ", "))
}
