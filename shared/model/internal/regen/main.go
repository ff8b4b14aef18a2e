// Command regen regenerates the demo model's training data (data/train.csv)
// and the trained model (demo.json), trained by model.Train as
// `dropcast model train` trains any model. Run it from shared/model, as
// `go generate` does.
package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/dropcast/dropcast/shared/model"
	"github.com/dropcast/dropcast/shared/model/internal/sample"
)

// The training set's size and seed; model_test.go checks the same values.
const (
	rows = 2000
	seed = 20240101
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "regen:", err)
		os.Exit(1)
	}
}

func run() error {
	var data bytes.Buffer
	if err := sample.Generate(&data, rows, seed); err != nil {
		return err
	}
	if err := os.WriteFile("data/train.csv", data.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write data/train.csv: %w", err)
	}
	trained, err := model.Train(bytes.NewReader(data.Bytes()), model.DemoTrainOptions())
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := trained.Model.WriteJSON(&out); err != nil {
		return err
	}
	if err := os.WriteFile("demo.json", out.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write demo.json: %w", err)
	}
	return nil
}
