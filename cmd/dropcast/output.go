package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"cloud.google.com/go/storage"

	"github.com/dropcast/dropcast/shared/gcsuri"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/run"
)

// timeline renders a run record as a table a person reads at a glance.
func timeline(r *run.Run) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "\nrun %s: %s", r.ID, strings.ToUpper(string(r.Status)))
	if !r.FinishedAt.IsZero() {
		fmt.Fprintf(&b, " in %s", r.FinishedAt.Sub(r.CreatedAt).Round(time.Millisecond))
	}
	fmt.Fprintf(&b, "\n  source %s (pipeline %s)\n\n", r.Source.URI(), r.Pipeline)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  STEP\tSTATUS\tATTEMPTS\tSEGMENTS\tDURATION\tROWS")
	for _, st := range r.Steps {
		d := "-"
		if !st.StartedAt.IsZero() && !st.FinishedAt.IsZero() {
			d = st.FinishedAt.Sub(st.StartedAt).Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%s\t%s\n", st.Name, st.Status, st.Attempts, st.Segments, d, stepRows(r, st.Name))
	}
	tw.Flush()
	if r.Error != nil {
		fmt.Fprintf(&b, "\n  failed in %s: %s\n", r.Error.Step, r.Error.Message)
	}
	if len(r.Outputs) > 0 {
		fmt.Fprintln(&b)
		for _, k := range []string{"clean", "rejects", "table", "predictions", "results", "results_table"} {
			if v, ok := r.Outputs[k]; ok {
				fmt.Fprintf(&b, "  %-14s %s\n", k, v)
			}
		}
	}
	return b.String()
}

func stepRows(r *run.Run, step string) string {
	c := r.Counters
	switch step {
	case run.Preprocess:
		return fmt.Sprintf("in=%d clean=%d rejected=%d", c[run.RowsIn], c[run.RowsClean], c[run.RowsRejected])
	case run.Load:
		return fmt.Sprintf("loaded=%d", c[run.RowsLoaded])
	case run.Predict, run.Postprocess:
		if step == run.Predict {
			return ""
		}
		return fmt.Sprintf("predicted=%d errors=%d", c[run.RowsPredicted], c[run.RowsErrored])
	}
	return ""
}

// writeOutputs writes DIR/RUN/run.json, results.csv and, when rows were
// rejected, rejects.csv (every rejects part, one header).
func writeOutputs(ctx context.Context, s *localstack.Stack, r *run.Run, dir string) (string, error) {
	d := filepath.Join(dir, r.ID)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(d, "run.json"), append(b, '\n'), 0o644); err != nil {
		return "", err
	}
	if uri := r.Outputs["results"]; uri != "" {
		if err := copyObjects(ctx, s.Storage, uri, filepath.Join(d, "results.csv")); err != nil {
			return "", err
		}
	}
	if uri := r.Outputs["rejects"]; uri != "" && r.Counters[run.RowsRejected] > 0 {
		if err := copyObjects(ctx, s.Storage, uri, filepath.Join(d, "rejects.csv")); err != nil {
			return "", err
		}
	}
	return d, nil
}

// copyObjects copies an object, or every object under a gs:// prefix ending
// in "/" concatenated with their header lines after the first dropped, to path.
func copyObjects(ctx context.Context, gcs *storage.Client, uri, path string) error {
	bucket, name, err := gcsuri.Split(uri)
	if err != nil {
		return err
	}
	names := []string{name}
	if strings.HasSuffix(name, "/") {
		if names, err = gcsuri.List(ctx, gcs.Bucket(bucket), name); err != nil {
			return err
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for i, n := range names {
		r, err := gcs.Bucket(bucket).Object(n).NewReader(ctx)
		if err != nil {
			f.Close()
			return fmt.Errorf("read gs://%s/%s: %w", bucket, n, err)
		}
		br := bufio.NewReader(r)
		if i > 0 {
			br.ReadString('\n') // the header, written once
		}
		_, err = io.Copy(w, br)
		r.Close()
		if err != nil {
			f.Close()
			return fmt.Errorf("read gs://%s/%s: %w", bucket, n, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
