package model

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Training defaults; TrainOptions' zero values mean these.
const (
	DefaultHoldOut   = 0.2
	DefaultSeed      = 20240101
	DefaultL2        = 1e-2
	DefaultMinCount  = 5
	DefaultMaxLevels = 50
	// maxClasses bounds a classifier's classes: a target with more distinct
	// values is more likely a number to regress.
	maxClasses = 100
	// maxParameters bounds the Newton solver's problem size.
	maxParameters = 1500
	// rowKeyColumn is schema.RowKeyColumn, dropcast's row key; legacyRowKey
	// the key tables loaded before it kept. Train never reads either.
	rowKeyColumn = "dropcast_row"
	legacyRowKey = "_row"
)

// DefaultIgnore are the columns Train never reads: dropcast's row keys.
func DefaultIgnore() []string { return []string{rowKeyColumn, legacyRowKey} }

// TrainOptions say what to train on a CSV.
type TrainOptions struct {
	// Target is the column to predict (required).
	Target string
	// Task is Classification or Regression; empty infers it from the
	// target: strings, booleans and integers with at most 10 distinct
	// values are classes, other numbers a regression.
	Task Task
	// Ignore lists columns not to read, besides DefaultIgnore.
	Ignore []string
	// Categorical lists columns to read as categories even when all their
	// values are numbers (codes such as a store ID).
	Categorical []string
	// HoldOut is the fraction of rows held out to measure quality (0 means
	// DefaultHoldOut); the model is fitted on the rest.
	HoldOut float64
	// Seed fixes the shuffle that picks the held-out rows (0 means
	// DefaultSeed).
	Seed uint64
	// L2 is the ridge penalty on the weights (0 means DefaultL2).
	L2 float64
	// MinCount is how often a category value must occur in the training
	// rows to get its own indicator; rarer values count as "other" (0 means
	// DefaultMinCount).
	MinCount int
	// MaxLevels bounds the indicators of one column to its most frequent
	// values (0 means DefaultMaxLevels).
	MaxLevels int
	// Source names the CSV in errors (a file name).
	Source string
}

// Trained is a fitted model with what training found.
type Trained struct {
	Model *Model
	// Rows are the data rows read; Skipped those without a target value
	// (not used); Train and HeldOut split the rest.
	Rows, Skipped, Train, HeldOut int
	// Dropped are the columns not used and why.
	Dropped []DroppedColumn
	// Quality is the model's on the held-out rows; Baseline the trivial
	// predictor's (the training rows' majority class and class shares, or
	// their mean).
	Quality, Baseline Quality
}

// DroppedColumn is a column Train did not use.
type DroppedColumn struct {
	Column, Reason string
}

// Quality is a model's quality on held-out rows: accuracy and log loss for
// a classifier, RMSE and R² for a regression.
type Quality struct {
	Accuracy float64 `json:"accuracy,omitempty"`
	LogLoss  float64 `json:"log_loss,omitempty"`
	RMSE     float64 `json:"rmse,omitempty"`
	R2       float64 `json:"r2,omitempty"`
}

// dataRow is one CSV record with its line number.
type dataRow struct {
	values map[string]string
	line   int
}

// Train fits a model to a labelled CSV with a header row: a regularised
// logistic (two classes) or softmax (more) regression, or a ridge linear
// regression. Numeric columns are standardised with the training rows' mean
// and standard deviation, boolean columns read as 0/1 and standardised,
// other columns one-hot encoded over their values occurring at least
// MinCount times, with an "other" indicator for the rest; a column with
// missing (empty) values in the training rows gains a "missing" indicator,
// and a missing number or boolean takes the training mean. Rows are split
// by a seeded shuffle into training and held-out rows; the model is fitted
// on the training rows by Newton's method to convergence, so the same input
// and options always give the same model, and scored on the held-out rows.
func Train(r io.Reader, opts TrainOptions) (*Trained, error) {
	opts = opts.withDefaults()
	src := opts.Source
	if src == "" {
		src = "input"
	}
	if opts.Target == "" {
		return nil, errors.New("model: train: no target column given")
	}
	header, rows, err := readCSV(r, src)
	if err != nil {
		return nil, err
	}
	for _, list := range [][]string{{opts.Target}, opts.Ignore, opts.Categorical} {
		for _, col := range list {
			if !slices.Contains(header, col) {
				return nil, fmt.Errorf("model: train: %s: the header has no column %q (it has %s)", src, col, strings.Join(header, ", "))
			}
		}
	}
	res := &Trained{Rows: len(rows)}
	var labelled []dataRow
	for _, row := range rows {
		if strings.TrimSpace(row.values[opts.Target]) == "" {
			res.Skipped++
			continue
		}
		labelled = append(labelled, row)
	}
	if len(labelled) < 10 {
		return nil, fmt.Errorf("model: train: %s: %d rows have a value in %q; need at least 10", src, len(labelled), opts.Target)
	}
	task, err := inferTask(labelled, opts, src)
	if err != nil {
		return nil, err
	}
	train, test := split(labelled, opts.HoldOut, opts.Seed)
	res.Train, res.HeldOut = len(train), len(test)
	m := &Model{Format: FormatName, Version: FormatVersion, Kind: task, TargetColumn: opts.Target}
	if task == Classification {
		m.ClassNames = classesOf(labelled, opts.Target)
		if len(m.ClassNames) > maxClasses {
			return nil, fmt.Errorf("model: train: %s: target %q has %d distinct values, more than %d classes; to predict it as a number pass --task regression", src, opts.Target, len(m.ClassNames), maxClasses)
		}
		if len(classesOf(train, opts.Target)) < 2 {
			return nil, fmt.Errorf("model: train: %s: the training rows hold only one value of %q; a classifier needs two", src, opts.Target)
		}
	}
	ignore := append(DefaultIgnore(), opts.Ignore...)
	for _, col := range header {
		if col == opts.Target || slices.Contains(ignore, col) {
			continue
		}
		fs, reason, err := columnFeatures(col, labelled, train, slices.Contains(opts.Categorical, col), opts, src)
		if err != nil {
			return nil, err
		}
		if reason != "" {
			res.Dropped = append(res.Dropped, DroppedColumn{Column: col, Reason: reason})
			continue
		}
		m.Features = append(m.Features, fs...)
	}
	if len(m.Features) == 0 {
		return nil, fmt.Errorf("model: train: %s: no column to learn from besides the target %q", src, opts.Target)
	}
	k := m.outputs()
	if p := (len(m.Features) + 1) * k; p > maxParameters {
		return nil, fmt.Errorf("model: train: %s: %d features and %d outputs are %d parameters, more than %d; leave out columns with --ignore or raise --min-count", src, len(m.Features), k, p, maxParameters)
	}
	m.Bias = make([]float64, k)
	for i := range m.Features {
		m.Features[i].Weights = make([]float64, k)
	}
	xs, ys, err := design(m, train, src)
	if err != nil {
		return nil, err
	}
	w, b := fit(xs, ys, objectiveOf(m), k, opts.L2)
	for i := range m.Features {
		m.Features[i].Weights = w[i]
	}
	m.Bias = b
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("model: train: %s: %w", src, err)
	}
	if res.Quality, res.Baseline, err = heldOutQuality(m, train, test, src); err != nil {
		return nil, err
	}
	m.Training = &TrainingInfo{Rows: len(train), HeldOut: len(test), Seed: opts.Seed, L2: opts.L2, Quality: res.Quality, Baseline: res.Baseline}
	res.Model = m
	return res, nil
}

func (o TrainOptions) withDefaults() TrainOptions {
	if o.HoldOut <= 0 || o.HoldOut >= 1 {
		o.HoldOut = DefaultHoldOut
	}
	if o.Seed == 0 {
		o.Seed = DefaultSeed
	}
	if o.L2 <= 0 {
		o.L2 = DefaultL2
	}
	if o.MinCount <= 0 {
		o.MinCount = DefaultMinCount
	}
	if o.MaxLevels <= 0 {
		o.MaxLevels = DefaultMaxLevels
	}
	return o
}

// readCSV reads a header and records; errors name the source, line and
// column (csv.ParseError carries both).
func readCSV(r io.Reader, src string) ([]string, []dataRow, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("model: train: %s: empty file, want a header row", src)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("model: train: %s: %w", src, err)
	}
	for i, col := range header {
		header[i] = strings.TrimSpace(strings.TrimPrefix(col, "\ufeff"))
		if header[i] == "" {
			return nil, nil, fmt.Errorf("model: train: %s: line 1, column %d: empty column name", src, i+1)
		}
		if slices.Contains(header[:i], header[i]) {
			return nil, nil, fmt.Errorf("model: train: %s: line 1, column %d: column %q appears twice", src, i+1, header[i])
		}
	}
	var rows []dataRow
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return header, rows, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("model: train: %s: %w", src, err)
		}
		line, _ := cr.FieldPos(0)
		values := make(map[string]string, len(header))
		for i, col := range header {
			values[col] = rec[i]
		}
		rows = append(rows, dataRow{values: values, line: line})
	}
}

// inferTask is opts.Task, or classification for a target of strings,
// booleans or integers with few distinct values, else regression. A
// regression's target values must all be numbers.
func inferTask(rows []dataRow, opts TrainOptions, src string) (Task, error) {
	col := opts.Target
	switch opts.Task {
	case Classification:
		return Classification, nil
	case Regression:
		for _, row := range rows {
			if _, err := parseNumber(strings.TrimSpace(row.values[col])); err != nil {
				return "", fmt.Errorf("model: train: %s: line %d: column %q: %w (a regression target must be a number)", src, row.line, col, err)
			}
		}
		return Regression, nil
	case "":
	default:
		return "", fmt.Errorf("model: train: task %q is neither %q nor %q", opts.Task, Classification, Regression)
	}
	distinct := map[string]bool{}
	integers := true
	for _, row := range rows {
		v := strings.TrimSpace(row.values[col])
		f, err := parseNumber(v)
		if err != nil {
			return Classification, nil
		}
		if f != math.Trunc(f) {
			integers = false
		}
		distinct[v] = true
	}
	if integers && len(distinct) <= 10 {
		return Classification, nil
	}
	return Regression, nil
}

// classesOf are the target's distinct values, sorted as numbers when all
// are numbers, else as strings.
func classesOf(rows []dataRow, target string) []string {
	var classes []string
	seen := map[string]bool{}
	numeric := true
	for _, row := range rows {
		v := strings.TrimSpace(row.values[target])
		if !seen[v] {
			seen[v] = true
			classes = append(classes, v)
			if _, err := parseNumber(v); err != nil {
				numeric = false
			}
		}
	}
	slices.SortFunc(classes, func(a, b string) int {
		if numeric {
			fa, _ := strconv.ParseFloat(a, 64)
			fb, _ := strconv.ParseFloat(b, 64)
			if c := cmp.Compare(fa, fb); c != 0 {
				return c
			}
		}
		return strings.Compare(a, b)
	})
	return classes
}

// split shuffles the rows with a seeded generator and holds out a fraction
// (at least one row) of them.
func split(rows []dataRow, holdOut float64, seed uint64) (train, test []dataRow) {
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	n := max(1, int(math.Round(holdOut*float64(len(rows)))))
	for i, idx := range order {
		if i < n {
			test = append(test, rows[idx])
		} else {
			train = append(train, rows[idx])
		}
	}
	return train, test
}

// columnKind is how Train reads a column.
type columnKind int

const (
	kindNumber columnKind = iota
	kindBool
	kindCategory
)

// columnFeatures are the features of one column, or the reason it is not
// used. The kind comes from all labelled rows (a number column must hold
// numbers throughout); levels, means and scales from the training rows.
func columnFeatures(col string, all, train []dataRow, categorical bool, opts TrainOptions, src string) ([]Feature, string, error) {
	kind := kindNumber
	if categorical {
		kind = kindCategory
	}
	present := 0
	isBool := true
	for _, row := range all {
		v := strings.TrimSpace(row.values[col])
		if v == "" {
			continue
		}
		present++
		if _, err := parseNumber(v); err != nil && kind == kindNumber {
			kind = kindCategory
		}
		if _, err := parseBool(v); err != nil || isNumberLike(v) {
			isBool = false
		}
	}
	if present == 0 {
		return nil, "every value is empty", nil
	}
	if !categorical && isBool {
		kind = kindBool
	}
	var missing int
	for _, row := range train {
		if strings.TrimSpace(row.values[col]) == "" {
			missing++
		}
	}
	var fs []Feature
	switch kind {
	case kindNumber, kindBool:
		transform := TransformNumber
		if kind == kindBool {
			transform = TransformBool
		}
		var sum, sq float64
		var n int
		for _, row := range train {
			v := strings.TrimSpace(row.values[col])
			if v == "" {
				continue
			}
			x, err := transform0(transform, v)
			if err != nil {
				return nil, "", fmt.Errorf("model: train: %s: line %d: column %q: %w", src, row.line, col, err)
			}
			sum += x
			sq += x * x
			n++
		}
		if n == 0 {
			return nil, "every value in the training rows is empty", nil
		}
		mean := sum / float64(n)
		std := math.Sqrt(math.Max(sq/float64(n)-mean*mean, 0))
		if std < 1e-12*math.Max(1, math.Abs(mean)) {
			if missing == 0 {
				return nil, "the same value in every training row", nil
			}
			std = 1
		}
		fs = append(fs, Feature{Column: col, Transform: transform, Mean: mean, Scale: std})
	case kindCategory:
		counts := map[string]int{}
		for _, row := range train {
			if v := strings.TrimSpace(row.values[col]); v != "" {
				counts[v]++
			}
		}
		var levels []string
		for v, c := range counts {
			if c >= opts.MinCount {
				levels = append(levels, v)
			}
		}
		slices.SortFunc(levels, func(a, b string) int {
			return cmp.Or(cmp.Compare(counts[b], counts[a]), strings.Compare(a, b))
		})
		if len(levels) > opts.MaxLevels {
			levels = levels[:opts.MaxLevels]
		}
		if len(levels) == 0 {
			return nil, fmt.Sprintf("no value occurs %d times in the training rows (an identifier or free text?)", opts.MinCount), nil
		}
		slices.Sort(levels)
		other := 0
		for v, c := range counts {
			if !slices.Contains(levels, v) {
				other += c
			}
		}
		if len(levels) == 1 && other == 0 && missing == 0 {
			return nil, "the same value in every training row", nil
		}
		for _, v := range levels {
			fs = append(fs, Feature{Column: col, Transform: TransformOneHot, Value: v, Scale: 1})
		}
		if other > 0 {
			fs = append(fs, Feature{Column: col, Transform: TransformOther, Scale: 1})
		}
	}
	if missing > 0 {
		fs = append(fs, Feature{Column: col, Transform: TransformMissing, Scale: 1})
	}
	return fs, "", nil
}

// isNumberLike reports whether a value reads as a number (1 and 0 parse
// as booleans too, but a column of them is a number).
func isNumberLike(v string) bool {
	_, err := parseNumber(v)
	return err == nil
}

// transform0 reads a present value of a number or bool column.
func transform0(transform, v string) (float64, error) {
	if transform == TransformBool {
		b, err := parseBool(v)
		return indicator(b), err
	}
	return parseNumber(v)
}

// design is the training rows' feature vectors (through the same code as
// Predict) and targets: the class index for a classifier, the number for a
// regression.
func design(m *Model, rows []dataRow, src string) ([][]float64, []float64, error) {
	xs := make([][]float64, len(rows))
	ys := make([]float64, len(rows))
	for i, row := range rows {
		x, err := m.vector(row.values)
		if err != nil {
			return nil, nil, fmt.Errorf("model: train: %s: line %d: %w", src, row.line, err)
		}
		xs[i] = x
		y, err := targetValue(m, row)
		if err != nil {
			return nil, nil, fmt.Errorf("model: train: %s: line %d: %w", src, row.line, err)
		}
		ys[i] = y
	}
	return xs, ys, nil
}

// targetValue is a row's target as the solver takes it.
func targetValue(m *Model, row dataRow) (float64, error) {
	v := strings.TrimSpace(row.values[m.TargetColumn])
	if m.Kind == Regression {
		y, err := parseNumber(v)
		if err != nil {
			return 0, fmt.Errorf("column %q: %w", m.TargetColumn, err)
		}
		return y, nil
	}
	k := slices.Index(m.ClassNames, v)
	if k < 0 {
		return 0, fmt.Errorf("column %q: %q is not one of the classes", m.TargetColumn, v)
	}
	return float64(k), nil
}

func objectiveOf(m *Model) objective {
	switch {
	case m.Kind == Regression:
		return squaredError
	case len(m.ClassNames) == 2:
		return logistic
	default:
		return multinomial
	}
}

// heldOutQuality scores the model and the trivial baseline on the held-out
// rows.
func heldOutQuality(m *Model, train, test []dataRow, src string) (Quality, Quality, error) {
	ys := make([]float64, len(test))
	for i, row := range test {
		y, err := targetValue(m, row)
		if err != nil {
			return Quality{}, Quality{}, fmt.Errorf("model: train: %s: line %d: %w", src, row.line, err)
		}
		ys[i] = y
	}
	if m.Kind == Regression {
		var mean float64
		for _, row := range train {
			y, _ := targetValue(m, row)
			mean += y
		}
		mean /= float64(len(train))
		preds := make([]float64, len(test))
		base := make([]float64, len(test))
		for i, row := range test {
			p, err := m.Predict(row.values)
			if err != nil {
				return Quality{}, Quality{}, fmt.Errorf("model: train: %s: line %d: %w", src, row.line, err)
			}
			preds[i], base[i] = p.Value, mean
		}
		return regressionQuality(ys, preds), regressionQuality(ys, base), nil
	}
	prior := make([]float64, len(m.ClassNames))
	for _, row := range train {
		y, _ := targetValue(m, row)
		prior[int(y)] += 1 / float64(len(train))
	}
	probs := make([][]float64, len(test))
	base := make([][]float64, len(test))
	for i, row := range test {
		p, err := m.Predict(row.values)
		if err != nil {
			return Quality{}, Quality{}, fmt.Errorf("model: train: %s: line %d: %w", src, row.line, err)
		}
		probs[i] = make([]float64, len(m.ClassNames))
		for k, c := range m.ClassNames {
			probs[i][k] = p.Scores[c]
		}
		base[i] = prior
	}
	return classificationQuality(ys, probs), classificationQuality(ys, base), nil
}

// classificationQuality is the accuracy (top class, the first of equals)
// and mean log loss (probabilities clipped at 1e-15) of class
// probabilities against class indices.
func classificationQuality(ys []float64, probs [][]float64) Quality {
	var correct, loss float64
	for i, y := range ys {
		p := probs[i]
		best := 0
		for k := range p {
			if p[k] > p[best] {
				best = k
			}
		}
		if best == int(y) {
			correct++
		}
		loss -= math.Log(math.Max(p[int(y)], 1e-15))
	}
	n := float64(len(ys))
	return Quality{Accuracy: correct / n, LogLoss: loss / n}
}

// regressionQuality is the RMSE and R² (against the held-out mean) of
// predictions.
func regressionQuality(ys, preds []float64) Quality {
	var mean float64
	for _, y := range ys {
		mean += y
	}
	mean /= float64(len(ys))
	var sse, sst float64
	for i, y := range ys {
		sse += (preds[i] - y) * (preds[i] - y)
		sst += (y - mean) * (y - mean)
	}
	q := Quality{RMSE: math.Sqrt(sse / float64(len(ys)))}
	if sst > 0 {
		q.R2 = 1 - sse/sst
	}
	return q
}

// DemoTrainOptions are the options the bundled demo model is trained with
// from data/train.csv (by go generate, and equally by
//
//	dropcast model train --target returned --task classification \
//	  --ignore date,item_id,note --categorical store_id data/train.csv
//
// ): the target "returned", store IDs as categories, and the date, item ID
// and free-text note left out.
func DemoTrainOptions() TrainOptions {
	return TrainOptions{
		Target:      "returned",
		Task:        Classification,
		Ignore:      []string{"date", "item_id", "note"},
		Categorical: []string{"store_id"},
		Source:      "data/train.csv",
	}
}
