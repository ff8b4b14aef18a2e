// Package tabular is the CSV layout in which Vertex AI and AutoML Tables
// return batch predictions of tabular models, and in which dropcast writes
// its online predictions so that both modes read alike. A predictions file
// has a header and holds every input column, in any order, then:
//
//   - for a classification model, one <target>_<class>_score column per
//     class: "For each potential value of your target column, a column named
//     TARGET_COLUMN_NAME_VALUE_score is added to the results";
//   - for a regression model, one predicted_<target> column: "The predicted
//     value for that row is returned in a column named
//     predicted_TARGET_COLUMN_NAME. The prediction interval is not returned
//     for CSV output."
//
// (Vertex AI, "Get batch predictions" for classification and regression;
// fixtures vertex-batch-output-classification and
// vertex-batch-output-regression in docs/fidelity.md.) The {classes, scores}
// record exists only in BigQuery output and online responses.
package tabular

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/dropcast/dropcast/shared/predictor"
)

const (
	scoreSuffix     = "_score"
	predictedPrefix = "predicted_"
)

// ScoreColumn is the column of class's score for a model of target.
func ScoreColumn(target, class string) string { return target + "_" + class + scoreSuffix }

// ValueColumn is the column of a regression model's prediction for target.
func ValueColumn(target string) string { return predictedPrefix + target }

// Columns locates the input values and the prediction in the records of
// one predictions file.
type Columns struct {
	input   []int    // each input column's position
	key     int      // the row key column
	classes []string // classification: the classes, in header order
	scores  []int    // classification: each class's score column
	value   int      // regression: the predicted_<target> column, else -1
}

// Parse reads the header of a predictions file. input are the columns the
// prediction job was given, which all come back (a missing one is an
// error); key (one of them) is the row key. target is the model's target column, or "" to read it from the
// names of the columns input lacks: predicted_T for a regression, or the
// longest common "_"-ended prefix of the *_score columns for a
// classification, which is ambiguous only when every class name shares an
// "_"-separated prefix (give target then).
func Parse(header, input []string, key, target string) (*Columns, error) {
	c := &Columns{key: slices.Index(header, key), value: -1}
	if c.key < 0 {
		return nil, fmt.Errorf("header has no %s column: %q", key, header)
	}
	for _, name := range input {
		i := slices.Index(header, name)
		if i < 0 {
			return nil, fmt.Errorf("header has no input column %s: %q", name, header)
		}
		c.input = append(c.input, i)
	}
	var extra []int // the columns the input lacks: the prediction's
	for i, h := range header {
		if !slices.Contains(input, h) {
			extra = append(extra, i)
		}
	}
	if len(extra) == 0 {
		return nil, fmt.Errorf("header has no prediction column (only the input's %q)", input)
	}
	if target == "" {
		var err error
		if target, err = inferTarget(header, extra); err != nil {
			return nil, err
		}
	}
	for _, i := range extra {
		h := header[i]
		if h == ValueColumn(target) && len(extra) == 1 {
			c.value = i
			return c, nil
		}
		class, ok := strings.CutPrefix(h, target+"_")
		class, ok2 := strings.CutSuffix(class, scoreSuffix)
		if !ok || !ok2 || class == "" {
			return nil, fmt.Errorf("column %s is neither an input column nor %s or %s (header %q)", h, ValueColumn(target), ScoreColumn(target, "CLASS"), header)
		}
		c.classes, c.scores = append(c.classes, class), append(c.scores, i)
	}
	return c, nil
}

// inferTarget reads the model's target from the prediction columns.
func inferTarget(header []string, extra []int) (string, error) {
	if len(extra) == 1 {
		if t, ok := strings.CutPrefix(header[extra[0]], predictedPrefix); ok && t != "" {
			return t, nil
		}
		return "", fmt.Errorf("cannot tell the target from the one prediction column %s: name it (predict.target)", header[extra[0]])
	}
	common := strings.TrimSuffix(header[extra[0]], scoreSuffix)
	for _, i := range extra {
		name, ok := strings.CutSuffix(header[i], scoreSuffix)
		if !ok {
			return "", fmt.Errorf("prediction column %s does not end in %s", header[i], scoreSuffix)
		}
		for !strings.HasPrefix(name, common) {
			common = common[:len(common)-1]
		}
	}
	cut := strings.LastIndex(common, "_")
	for cut > 0 && slices.ContainsFunc(extra, func(i int) bool { return len(header[i]) == cut+1+len(scoreSuffix) }) {
		cut = strings.LastIndex(common[:cut], "_") // a class would be empty
	}
	if cut <= 0 {
		return "", fmt.Errorf("cannot tell the target from the score columns %q: name it (predict.target)", names(header, extra))
	}
	return common[:cut], nil
}

func names(header []string, idx []int) []string {
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = header[j]
	}
	return out
}

// Classes are the classes of a classification model's file, in header
// order; nil for a regression.
func (c *Columns) Classes() []string { return c.classes }

// Row fills row with the input values and the prediction of one record.
func (c *Columns) Row(rec []string, row *predictor.Row) error {
	if len(row.Input) != len(c.input) {
		row.Input = make([]string, len(c.input))
	}
	for i, j := range c.input {
		row.Input[i] = rec[j]
	}
	p, err := c.Prediction(rec)
	row.Prediction = p
	return err
}

// Prediction reads the prediction of one record: for a classification the
// top class (the first of equal top scores) with every class's score, for a
// regression the value.
func (c *Columns) Prediction(rec []string) (predictor.Prediction, error) {
	p := predictor.Prediction{RowKey: rec[c.key]}
	if c.value >= 0 {
		v, err := strconv.ParseFloat(rec[c.value], 64)
		if err != nil {
			return p, fmt.Errorf("row %s: predicted value %q is not a number", p.RowKey, rec[c.value])
		}
		p.Label = strconv.FormatFloat(v, 'f', -1, 64)
		return p, nil
	}
	p.Scores = make(map[string]float64, len(c.classes))
	for i, col := range c.scores {
		v, err := strconv.ParseFloat(rec[col], 64)
		if err != nil {
			return p, fmt.Errorf("row %s: score of class %q, %q, is not a number", p.RowKey, c.classes[i], rec[col])
		}
		p.Scores[c.classes[i]] = v
		if i == 0 || v > p.Score {
			p.Label, p.Score = c.classes[i], v
		}
	}
	return p, nil
}

// Writer writes predictions in the layout: the input columns, then the
// prediction columns of target for the given classes (nil: a regression).
type Writer struct {
	target  string
	classes []string
}

// NewWriter returns a writer for a model of target with classes (nil for a
// regression).
func NewWriter(target string, classes []string) *Writer {
	return &Writer{target: target, classes: classes}
}

// ClassesOf are the classes of preds, sorted; nil when none has scores.
func ClassesOf(preds []predictor.Prediction) []string {
	var out []string
	for _, p := range preds {
		for c := range p.Scores {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Header is the output header for input columns.
func (w *Writer) Header(input []string) []string {
	out := slices.Clone(input)
	if w.classes == nil {
		return append(out, ValueColumn(w.target))
	}
	for _, c := range w.classes {
		out = append(out, ScoreColumn(w.target, c))
	}
	return out
}

// Row is the output record of an input record and its prediction.
func (w *Writer) Row(rec []string, p predictor.Prediction) ([]string, error) {
	out := slices.Clone(rec)
	if w.classes == nil {
		if _, err := strconv.ParseFloat(p.Label, 64); err != nil || p.Scores != nil {
			return nil, fmt.Errorf("prediction %q is not a regression value", p.Label)
		}
		return append(out, p.Label), nil
	}
	for _, c := range w.classes {
		s, ok := p.Scores[c]
		if !ok {
			return nil, fmt.Errorf("prediction has no score for class %q", c)
		}
		out = append(out, strconv.FormatFloat(s, 'g', -1, 64))
	}
	return out, nil
}
