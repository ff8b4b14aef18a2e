package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/dropcast/dropcast/functions/postprocess"
	"github.com/dropcast/dropcast/shared/config"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
)

// The sample spec's results table and the sample file's partition of it.
const (
	resultsTableName = "dropcast-local.sales.purchase_predictions"
	resultsPartition = "SELECT COUNT(*) FROM `" + resultsTableName + "` WHERE _PARTITIONTIME = TIMESTAMP('2026-04-26')"
)

// resultsTransformSpec is the sample spec with a results transform.
func resultsTransformSpec() map[string][]byte {
	s := append(bytes.Clone(sample.Spec), `  columns:
    - name: price
    - name: store_id
      as: store
    - name: note
  round: 4
  scores: all
  neutralize_formulas: true
`...)
	return map[string][]byte{sample.SpecName: s}
}

// resultsFormulaSample is the sample whose first three "loyalty card" notes (source
// lines 2, 29 and 39) are replaced by formulas and a negative number.
func resultsFormulaSample() []byte {
	data := sample.CSV
	for _, note := range []string{"=1+2", "@SUM(A1)", "-5"} {
		data = bytes.Replace(data, []byte(",loyalty card\r\n"), []byte(","+note+"\r\n"), 1)
	}
	return data
}

// resultsTableRows reads every row of the results table through the real BigQuery
// client, as column name → value.
func resultsTableRows(t *testing.T, s *localstack.Stack) (bigquery.Schema, []map[string]bigquery.Value) {
	t.Helper()
	ctx := context.Background()
	tb := s.App.Clients.BigQuery.DatasetInProject(localstack.Project, "sales").Table("purchase_predictions")
	md, err := tb.Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]bigquery.Value
	it := tb.Read(ctx)
	for {
		row := map[string]bigquery.Value{}
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
	return md.Schema, rows
}

// resultsColumn returns a results column by name, failing when it is missing.
func resultsColumn(t *testing.T, header []string, name string) int {
	t.Helper()
	i := slices.Index(header, name)
	if i < 0 {
		t.Fatalf("results have no column %s: %v", name, header)
	}
	return i
}

// scoreDecimals is how many digits follow the point.
func scoreDecimals(v string) int {
	_, frac, ok := strings.Cut(v, ".")
	if !ok {
		return 0
	}
	return len(frac)
}

func TestResultsTransformLandsInCSVAndTableAndRerunReplaces(t *testing.T) {
	t.Parallel()
	s := mustStack(t, localstack.Options{Specs: resultsTransformSpec()})
	data := resultsFormulaSample()
	r := dropAndWait(t, s, sampleObject(), data)
	if r.Status != run.Succeeded {
		t.Fatalf("run %s: %s %+v", r.ID, r.Status, r.Error)
	}
	header, rows := results(t, s, r)
	want := []string{"price", "store", "note", "prediction", "score", "score_false", "score_true", "run_id", "source_file", "model", "predicted_at", "source_line"}
	if !slices.Equal(header, want) {
		t.Fatalf("results header %v, want %v", header, want)
	}
	if len(rows) != sampleClean {
		t.Fatalf("results have %d rows, want one per clean row (%d)", len(rows), sampleClean)
	}
	if wantURI := "gs://" + localstack.ResultsBucket + "/results/purchases/dt=2026-04-26/20260426-120000.csv"; r.Outputs["results"] != wantURI {
		t.Errorf("results at %s, want %s", r.Outputs["results"], wantURI)
	}
	pred, score, sf, st := resultsColumn(t, header, "prediction"), resultsColumn(t, header, "score"), resultsColumn(t, header, "score_false"), resultsColumn(t, header, "score_true")
	runID, line, note := resultsColumn(t, header, "run_id"), resultsColumn(t, header, "source_line"), resultsColumn(t, header, "note")
	notes := map[string]string{}
	for _, row := range rows {
		f, err1 := strconv.ParseFloat(row[sf], 64)
		tr, err2 := strconv.ParseFloat(row[st], 64)
		top, err3 := strconv.ParseFloat(row[score], 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatalf("row %v: %v", row, err)
		}
		if scoreDecimals(row[sf]) > 4 || scoreDecimals(row[st]) > 4 || scoreDecimals(row[score]) > 4 {
			t.Fatalf("scores not rounded to 4 decimals: %v", row)
		}
		if math.Abs(f+tr-1) > 2e-4 || top != max(f, tr) || row[pred] != map[bool]string{true: "true", false: "false"}[tr > f] {
			t.Fatalf("prediction, score and class scores disagree: %v", row)
		}
		if row[runID] != r.ID {
			t.Fatalf("row names run %s, want %s", row[runID], r.ID)
		}
		notes[row[line]] = row[note]
	}
	for l, want := range map[string]string{"2": "'=1+2", "29": "'@SUM(A1)", "39": "-5"} {
		if notes[l] != want {
			t.Errorf("line %s note %q, want %q", l, notes[l], want)
		}
	}

	// The table has the CSV's columns and rows.
	schema, trows := resultsTableRows(t, s)
	var names []string
	for _, f := range schema {
		names = append(names, f.Name)
	}
	if !slices.Equal(names, header) {
		t.Errorf("results table columns %v, CSV header %v", names, header)
	}
	if len(trows) != sampleClean || queryInt(t, s, resultsPartition) != sampleClean {
		t.Fatalf("results table holds %d rows, want %d", len(trows), sampleClean)
	}
	for _, tr := range trows {
		l := fmt.Sprint(tr["source_line"])
		if tr["run_id"] != r.ID || fmt.Sprint(tr["note"]) != notes[l] && tr["note"] != nil || tr["prediction"] == nil || tr["score_true"] == nil {
			t.Fatalf("table row %v disagrees with the CSV (note %q)", tr, notes[l])
		}
	}

	// Uploading the same file again replaces the CSV and the partition.
	r2 := dropAndWait(t, s, sampleObject(), data)
	if r2.Status != run.Succeeded || r2.ID == r.ID {
		t.Fatalf("re-upload: run %s %s %+v", r2.ID, r2.Status, r2.Error)
	}
	if r2.Outputs["results"] != r.Outputs["results"] {
		t.Errorf("re-run wrote %s, not %s", r2.Outputs["results"], r.Outputs["results"])
	}
	_, rows2 := results(t, s, r2)
	if len(rows2) != sampleClean {
		t.Errorf("re-run results have %d rows, want %d", len(rows2), sampleClean)
	}
	for _, row := range rows2 {
		if row[runID] != r2.ID {
			t.Fatalf("results CSV still holds run %s's rows", row[runID])
		}
	}
	if n := queryInt(t, s, resultsPartition); n != sampleClean {
		t.Errorf("after the re-run the partition holds %d rows, want %d (replaced)", n, sampleClean)
	}
	_, trows = resultsTableRows(t, s)
	for _, tr := range trows {
		if tr["run_id"] != r2.ID {
			t.Fatalf("results table still holds run %v's rows", tr["run_id"])
		}
	}
}

func TestResultsSelfRequeueUnderTinyBudget(t *testing.T) {
	t.Parallel()
	const copies = 10
	s := mustStack(t, localstack.Options{Configure: func(c *config.Config) {
		c.SafetyMargin = c.StepTimeout - 2*time.Millisecond // a 2ms budget per invocation
	}})
	r := dropAndWait(t, s, sampleObject(), bigSample(copies))
	if r.Status != run.Succeeded {
		t.Fatalf("run %s: %s %+v", r.ID, r.Status, r.Error)
	}
	clean := resultsObjectsUnder(t, s.Storage.Bucket(localstack.WorkBucket), r.WorkPrefix()+"clean/")
	if len(clean) < 2 {
		t.Fatalf("%d clean parts: the budget forced no split", len(clean))
	}
	// Postprocess does one predictions file per invocation at least.
	predDir := strings.TrimPrefix(r.Outputs["predictions"], "gs://"+localstack.WorkBucket+"/") + "/"
	var predFiles int
	for _, name := range resultsObjectsUnder(t, s.Storage.Bucket(localstack.WorkBucket), predDir) {
		if strings.HasPrefix(strings.TrimPrefix(name, predDir), "predictions_") {
			predFiles++
		}
	}
	if seg := r.StepState(run.Postprocess).Segments; predFiles == 0 || seg < predFiles-1 {
		t.Errorf("postprocess took %d extra invocations for %d predictions files, want one per file", seg, predFiles)
	}
	header, rows := results(t, s, r)
	if len(rows) != copies*sampleClean || r.Counters[run.RowsPredicted] != copies*sampleClean || r.Counters[run.RowsResults] != copies*sampleClean {
		t.Fatalf("%d result rows, counters %v, want %d", len(rows), r.Counters, copies*sampleClean)
	}
	line := resultsColumn(t, header, "source_line")
	prev := 0
	for _, row := range rows {
		n, err := strconv.Atoi(row[line])
		if err != nil || n <= prev {
			t.Fatalf("row %v out of order or a repeated header (after line %d)", row, prev)
		}
		prev = n
	}
	if n := queryInt(t, s, resultsPartition); n != copies*sampleClean {
		t.Errorf("results partition holds %d rows, want %d", n, copies*sampleClean)
	}
	if left := resultsObjectsUnder(t, s.Storage.Bucket(localstack.ResultsBucket), postprocess.PartsPrefix(r)); len(left) != 0 {
		t.Errorf("result parts left behind: %v", left)
	}
}

// resultsObjectsUnder lists the objects under prefix.
func resultsObjectsUnder(t *testing.T, b *storage.BucketHandle, prefix string) []string {
	t.Helper()
	var names []string
	it := b.Objects(context.Background(), &storage.Query{Prefix: prefix})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, a.Name)
	}
}
