package model

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// SidecarSuffix is appended to a model file's name to name its sidecar:
// model.json's sidecar is model.json.dropcast.yaml.
const SidecarSuffix = ".dropcast.yaml"

// Sidecar is what a model file of another library lacks, written next to it
// as FILE.dropcast.yaml (YAML; JSON is YAML too):
//
//	target: species                        # the column the model predicts
//	task: classification                   # or regression
//	classes: [Adelie, Chinstrap, Gentoo]   # the model's outputs in order (two: negative first)
//	features: [bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g]
//	categories:                            # optional: string columns the model
//	  island: [Biscoe, Dream, Torgersen]   # reads as codes 0, 1, 2, ...
//
// features are the input columns in the model's feature order (feature 0
// first); they may be left out when the file names its features (LightGBM
// always does, XGBoost's JSON when trained with feature names). task may be
// left out when the model's objective settles it. A categories column's
// value is given to the model as its index in the list; a value not listed
// is missing, as is an empty one.
type Sidecar struct {
	Target     string              `yaml:"target"`
	Task       Task                `yaml:"task"`
	Classes    []string            `yaml:"classes"`
	Features   []string            `yaml:"features"`
	Categories map[string][]string `yaml:"categories"`
}

// SidecarPath is the path of the sidecar of the model file at path.
func SidecarPath(path string) string { return path + SidecarSuffix }

// ReadSidecar reads and checks the sidecar of the model file at path; ok is
// false when there is none.
func ReadSidecar(path string) (sc Sidecar, ok bool, err error) {
	name := SidecarPath(path)
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return Sidecar{}, false, nil
	}
	if err != nil {
		return Sidecar{}, false, fmt.Errorf("model: sidecar: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&sc); err != nil && !errors.Is(err, io.EOF) {
		return Sidecar{}, false, fmt.Errorf("model: sidecar %s: %w (it takes target, task, classes, features and categories)", name, err)
	}
	if err := sc.check(); err != nil {
		return Sidecar{}, false, fmt.Errorf("model: sidecar %s: %w", name, err)
	}
	return sc, true, nil
}

// check validates the sidecar on its own; fileFacts checks it against the
// model file.
func (sc Sidecar) check() error {
	if strings.TrimSpace(sc.Target) == "" {
		return errors.New("no target: name the column the model predicts (target: COLUMN)")
	}
	switch sc.Task {
	case "", Classification, Regression:
	default:
		return fmt.Errorf("task %q is neither %q nor %q", sc.Task, Classification, Regression)
	}
	if sc.Task == Regression && len(sc.Classes) > 0 {
		return fmt.Errorf("a regression has no classes, have %q", sc.Classes)
	}
	if dup := duplicate(sc.Classes); dup != "" {
		return fmt.Errorf("class %q is listed twice", dup)
	}
	if dup := duplicate(sc.Features); dup != "" {
		return fmt.Errorf("feature %q is listed twice", dup)
	}
	for i, f := range sc.Features {
		if strings.TrimSpace(f) == "" {
			return fmt.Errorf("features[%d] is empty", i)
		}
	}
	for col, values := range sc.Categories {
		if len(values) == 0 {
			return fmt.Errorf("categories: column %q lists no values", col)
		}
		if dup := duplicate(values); dup != "" {
			return fmt.Errorf("categories: column %q lists %q twice", col, dup)
		}
	}
	return nil
}

func duplicate(xs []string) string {
	seen := map[string]bool{}
	for _, x := range xs {
		if seen[x] {
			return x
		}
		seen[x] = true
	}
	return ""
}

// fileFacts is what a model file says about itself.
type fileFacts struct {
	format string // e.g. "XGBoost JSON"
	// task is the task the objective implies ("" if it does not say);
	// outputs the number of classes a classifier's objective implies (0 if
	// it does not say).
	task     Task
	classes  int
	features []string // the feature names the file carries, or nil
	nFeature int
}

// resolve combines a model file's facts with its sidecar into the model's
// task, classes and feature columns, or an error saying what to write.
func resolve(path string, facts fileFacts) (Sidecar, error) {
	sc, ok, err := ReadSidecar(path)
	if err != nil {
		return Sidecar{}, err
	}
	if !ok {
		return Sidecar{}, fmt.Errorf("model: %s (%s): dropcast needs what the model file lacks in a sidecar: write %s holding\n%s",
			path, facts.format, SidecarPath(path), sidecarExample(facts))
	}
	name := SidecarPath(path)
	if sc.Task == "" {
		sc.Task = facts.task
	}
	if sc.Task == "" {
		return Sidecar{}, fmt.Errorf("model: sidecar %s: no task, and the model's objective does not say: add task: classification or task: regression", name)
	}
	if facts.task != "" && sc.Task != facts.task {
		return Sidecar{}, fmt.Errorf("model: sidecar %s: task %s, but the %s model's objective is a %s", name, sc.Task, facts.format, facts.task)
	}
	if sc.Task == Classification {
		want := facts.classes
		if len(sc.Classes) == 0 {
			return Sidecar{}, fmt.Errorf("model: sidecar %s: a classifier needs its classes in the model's output order: add classes: [%s]", name, placeholders("CLASS", max(want, 2)))
		}
		if want != 0 && len(sc.Classes) != want {
			return Sidecar{}, fmt.Errorf("model: sidecar %s: %d classes %q, but the model has %d outputs", name, len(sc.Classes), sc.Classes, want)
		}
		if len(sc.Classes) < 2 {
			return Sidecar{}, fmt.Errorf("model: sidecar %s: a classifier needs at least two classes, have %q", name, sc.Classes)
		}
	}
	if len(sc.Features) == 0 {
		sc.Features = facts.features
	}
	if len(sc.Features) == 0 {
		return Sidecar{}, fmt.Errorf("model: sidecar %s: the model file does not name its %d features: add features: [%s] (the input columns in the model's feature order)", name, facts.nFeature, placeholders("COLUMN", facts.nFeature))
	}
	if len(sc.Features) != facts.nFeature {
		return Sidecar{}, fmt.Errorf("model: sidecar %s: %d features, but the model reads %d", name, len(sc.Features), facts.nFeature)
	}
	if slices.Contains(sc.Features, sc.Target) {
		return Sidecar{}, fmt.Errorf("model: sidecar %s: the target %q is also a feature", name, sc.Target)
	}
	for col := range sc.Categories {
		if !slices.Contains(sc.Features, col) {
			return Sidecar{}, fmt.Errorf("model: sidecar %s: categories names %q, which is not a feature", name, col)
		}
	}
	return sc, nil
}

// sidecarExample is a sidecar to start from for a model file.
func sidecarExample(facts fileFacts) string {
	var b strings.Builder
	b.WriteString("  target: COLUMN            # the column the model predicts\n")
	switch {
	case facts.task == Regression:
		b.WriteString("  task: regression\n")
	case facts.task == Classification:
		fmt.Fprintf(&b, "  task: classification\n  classes: [%s]   # the model's outputs in order\n", placeholders("CLASS", max(facts.classes, 2)))
	default:
		b.WriteString("  task: classification      # or regression\n  classes: [NEGATIVE, POSITIVE]   # a classifier's outputs in order\n")
	}
	if len(facts.features) > 0 {
		fmt.Fprintf(&b, "  # features: the file names them (%s); list columns here only to read others\n", strings.Join(facts.features, ", "))
	} else {
		fmt.Fprintf(&b, "  features: [%s]   # the %d input columns in the model's feature order\n", placeholders("COLUMN", facts.nFeature), facts.nFeature)
	}
	return b.String()
}

func placeholders(word string, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("%s%d", word, i+1)
	}
	return strings.Join(parts, ", ")
}
