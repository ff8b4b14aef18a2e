package e2e

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"

	"github.com/dropcast/dropcast/functions/load"
	"github.com/dropcast/dropcast/shared/emulator/bqemu"
	"github.com/dropcast/dropcast/shared/emulator/tasksemu"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
)

const (
	loadEvening  = "incoming/20260426-180000.csv" // the sample's day, other rows
	loadNextDay  = "incoming/20260427-120000.csv"
	loadEveningN = 50
	loadNextDayN = 30
)

// loadCSV is a clean purchases CSV of n rows dated day (YYYY-MM-DD),
// then extra rows dated other.
func loadCSV(day string, n int, other string, extra int) []byte {
	var b bytes.Buffer
	b.WriteString("date,store_id,item_id,category,price,quantity,promo,note\r\n")
	for i := range n + extra {
		d := day
		if i >= n {
			d = other
		}
		fmt.Fprintf(&b, "%s,%d,SKU-%05d,home,%d.25,%d,false,row %d\r\n", d, 1+i%7, 10000+i, 1+i%40, 1+i%3, i)
	}
	return b.Bytes()
}

// loadSpecWith is the sample spec with its destination lines replaced.
func loadSpecWith(destination string) map[string][]byte {
	return specWith("  write_mode: replace_partition\n", destination)
}

// loadMustSucceed drops a file and requires its run to succeed, loading want rows.
func loadMustSucceed(t *testing.T, s *localstack.Stack, object string, data []byte, want int64) *run.Run {
	t.Helper()
	r := dropAndWait(t, s, object, data)
	if r.Status != run.Succeeded {
		t.Fatalf("%s: run %s %s: %+v", object, r.ID, r.Status, r.Error)
	}
	if got := r.Counters[run.RowsLoaded]; got != want {
		t.Fatalf("%s: rows_loaded %d, want %d", object, got, want)
	}
	return r
}

// loadMustFail drops a file and requires its run to fail in the load step
// with a message containing each of wants.
func loadMustFail(t *testing.T, s *localstack.Stack, object string, data []byte, wants ...string) *run.Run {
	t.Helper()
	r := dropAndWait(t, s, object, data)
	if r.Status != run.Failed || r.Error == nil || r.Error.Step != run.Load {
		t.Fatalf("%s: run %s %s %+v, want a failure in load", object, r.ID, r.Status, r.Error)
	}
	if st := r.StepState(run.Load); st.Status != run.StepFailed || st.Error != r.Error.Message {
		t.Errorf("load step %s with error %q, want failed with the run's error", st.Status, st.Error)
	}
	for _, w := range wants {
		if !strings.Contains(r.Error.Message, w) {
			t.Errorf("run error lacks %q:\n%s", w, r.Error.Message)
		}
	}
	return r
}

// loadedInPartition counts the purchases rows in an ingestion-time partition (YYYY-MM-DD).
func loadedInPartition(t *testing.T, s *localstack.Stack, day string) int64 {
	t.Helper()
	return queryInt(t, s, "SELECT COUNT(*) FROM `dropcast-local.sales.purchases` WHERE _PARTITIONTIME = TIMESTAMP('"+day+"')")
}

func loadedRows(t *testing.T, s *localstack.Stack) int64 {
	t.Helper()
	return queryInt(t, s, "SELECT COUNT(*) FROM `dropcast-local.sales.purchases`")
}

// loadStepJobs are the load step's BigQuery jobs (not the results table's).
// loadJobRE matches the load step's job IDs (…_load, …_load_r1 for a retry),
// not postprocess's results loads.
var loadJobRE = regexp.MustCompile(`_load(_r[0-9]+)?$`)

func loadStepJobs(s *localstack.Stack) []string {
	var ids []string
	for _, id := range s.BQ.LoadJobIDs(localstack.Project) {
		if loadJobRE.MatchString(id) {
			ids = append(ids, id)
		}
	}
	return ids
}

func TestLoadWriteModes(t *testing.T) {
	t.Parallel()
	eveningCSV := loadCSV("2026-04-26", loadEveningN, "", 0)
	nextDayCSV := loadCSV("2026-04-27", loadNextDayN, "", 0)
	type counts struct{ day26, day27, total int64 }
	for _, c := range []struct {
		mode string
		// after: the sample, the sample again, the loadEvening file, the next day's file.
		after [4]counts
	}{
		{"replace_partition", [4]counts{{sampleClean, 0, sampleClean}, {sampleClean, 0, sampleClean}, {loadEveningN, 0, loadEveningN}, {loadEveningN, loadNextDayN, loadEveningN + loadNextDayN}}},
		{"append", [4]counts{{sampleClean, 0, sampleClean}, {2 * sampleClean, 0, 2 * sampleClean}, {2*sampleClean + loadEveningN, 0, 2*sampleClean + loadEveningN}, {2*sampleClean + loadEveningN, loadNextDayN, 2*sampleClean + loadEveningN + loadNextDayN}}},
		// truncate replaces the whole table; its rows land in the load day's partition.
		{"truncate", [4]counts{{-1, -1, sampleClean}, {-1, -1, sampleClean}, {-1, -1, loadEveningN}, {-1, -1, loadNextDayN}}},
	} {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			s := mustStack(t, localstack.Options{Specs: loadSpecWith("  write_mode: " + c.mode + "\n")})
			drops := []struct {
				object string
				data   []byte
				rows   int64
			}{{sampleObject(), sample.CSV, sampleClean}, {sampleObject(), sample.CSV, sampleClean}, {loadEvening, eveningCSV, loadEveningN}, {loadNextDay, nextDayCSV, loadNextDayN}}
			var runs []*run.Run
			for i, d := range drops {
				runs = append(runs, loadMustSucceed(t, s, d.object, d.data, d.rows))
				want := c.after[i]
				got := counts{-1, -1, loadedRows(t, s)}
				if want.day26 >= 0 {
					got.day26, got.day27 = loadedInPartition(t, s, "2026-04-26"), loadedInPartition(t, s, "2026-04-27")
				} else {
					today := time.Now().UTC().Format("2006-01-02")
					if n := loadedInPartition(t, s, today); n != got.total {
						t.Errorf("after drop %d (%s): today's partition holds %d of %d rows", i+1, d.object, n, got.total)
					}
				}
				if got != want {
					t.Fatalf("after drop %d (%s): rows (2026-04-26, 2026-04-27, table) = %v, want %v", i+1, d.object, got, want)
				}
			}
			if runs[0].ID == runs[1].ID {
				t.Fatal("uploading the same object twice made one run")
			}
			var want []string
			for _, r := range runs {
				want = append(want, load.JobID(r))
			}
			slices.Sort(want)
			if got := loadStepJobs(s); !slices.Equal(got, want) {
				t.Errorf("load jobs %v, want one per run %v", got, want)
			}
		})
	}
}

func TestLoadAppendNeverAppendsADeliveryTwice(t *testing.T) {
	t.Parallel()
	s := mustStack(t, localstack.Options{
		Specs:      loadSpecWith("  write_mode: append\n"),
		TaskFaults: tasksemu.Faults{Seed: 1, DuplicateRate: 1},
	})
	s.BQ.SetFaults(bqemu.Faults{Seed: 7, ServerErrorRate: 0.3})
	r1 := loadMustSucceed(t, s, sampleObject(), sample.CSV, sampleClean)
	r2 := loadMustSucceed(t, s, loadEvening, loadCSV("2026-04-26", loadEveningN, "", 0), loadEveningN)
	s.BQ.SetFaults(bqemu.Faults{})
	if s.BQ.InjectedServerErrors() == 0 || s.Tasks.Stats().InjectedDuplicates == 0 {
		t.Fatalf("faults not exercised: %d BigQuery 5xx, %d duplicate tasks", s.BQ.InjectedServerErrors(), s.Tasks.Stats().InjectedDuplicates)
	}
	t.Logf("%d BigQuery 5xx, %d duplicate deliveries", s.BQ.InjectedServerErrors(), s.Tasks.Stats().InjectedDuplicates)
	if n := loadedInPartition(t, s, "2026-04-26"); n != sampleClean+loadEveningN {
		t.Fatalf("partition holds %d rows, want %d (each file once)", n, sampleClean+loadEveningN)
	}
	want := []string{load.JobID(r1), load.JobID(r2)}
	slices.Sort(want)
	if got := loadStepJobs(s); !slices.Equal(got, want) {
		t.Errorf("load jobs %v, want %v", got, want)
	}
}

func TestLoadColumnPartitionedReplacesOnlyTheFilesDay(t *testing.T) {
	t.Parallel()
	s := mustStack(t, localstack.Options{Specs: loadSpecWith("  write_mode: replace_partition\n  partition_field: date\n")})
	day := func(d string) int64 {
		return queryInt(t, s, "SELECT COUNT(*) FROM `dropcast-local.sales.purchases` WHERE date = DATE '"+d+"'")
	}
	loadMustSucceed(t, s, sampleObject(), sample.CSV, sampleClean)
	loadMustSucceed(t, s, loadNextDay, loadCSV("2026-04-27", loadNextDayN, "", 0), loadNextDayN)
	loadMustSucceed(t, s, sampleObject(), sample.CSV, sampleClean)
	if d26, d27 := day("2026-04-26"), day("2026-04-27"); d26 != sampleClean || d27 != loadNextDayN {
		t.Fatalf("days hold %d and %d rows, want %d and %d", d26, d27, sampleClean, loadNextDayN)
	}
	// A file of the 26th with rows of the 27th would replace only part of
	// the 27th's data: BigQuery refuses the load and nothing changes.
	loadMustFail(t, s, loadEvening, loadCSV("2026-04-26", 40, "2026-04-27", 5),
		"BigQuery load job dropcast_purchases_20260426_180000_",
		"invalid: Some rows belong to different partitions rather than destination partition 20260426")
	if d26, d27 := day("2026-04-26"), day("2026-04-27"); d26 != sampleClean || d27 != loadNextDayN {
		t.Fatalf("after the refused load days hold %d and %d rows, want %d and %d", d26, d27, sampleClean, loadNextDayN)
	}
	md, err := s.App.Clients.BigQuery.DatasetInProject(localstack.Project, "sales").Table("purchases").Metadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if md.TimePartitioning == nil || md.TimePartitioning.Field != "date" {
		t.Fatalf("table partitioning %+v, want DAY(date)", md.TimePartitioning)
	}
}

// loadPurchasesTable creates sales.purchases with the sample spec's columns
// (without dropcast's row key), changed by edit, partitioned by ingestion day.
func loadPurchasesTable(t *testing.T, s *localstack.Stack, edit func(bigquery.Schema) bigquery.Schema) {
	t.Helper()
	schema := bigquery.Schema{
		{Name: "date", Type: bigquery.DateFieldType, Required: true},
		{Name: "store_id", Type: bigquery.IntegerFieldType, Required: true},
		{Name: "item_id", Type: bigquery.StringFieldType, Required: true},
		{Name: "category", Type: bigquery.StringFieldType, Required: true},
		{Name: "price", Type: bigquery.NumericFieldType, Required: true},
		{Name: "quantity", Type: bigquery.IntegerFieldType, Required: true},
		{Name: "promo", Type: bigquery.BooleanFieldType, Required: true},
		{Name: "note", Type: bigquery.StringFieldType},
	}
	err := s.App.Clients.BigQuery.DatasetInProject(localstack.Project, "sales").Table("purchases").Create(context.Background(), &bigquery.TableMetadata{
		Schema: edit(schema), TimePartitioning: &bigquery.TimePartitioning{Type: bigquery.DayPartitioningType},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLoadConflictingTableFailsTheRunListingFields(t *testing.T) {
	t.Parallel()
	s := mustStack(t, localstack.Options{})
	loadPurchasesTable(t, s, func(sc bigquery.Schema) bigquery.Schema {
		sc[4].Type = bigquery.StringFieldType  // price
		sc[6].Type = bigquery.IntegerFieldType // promo
		return sc
	})
	loadMustFail(t, s, sampleObject(), sample.CSV,
		"table dropcast-local.sales.purchases conflicts with the spec: ",
		"price: table has STRING, spec wants NUMERIC",
		"promo: table has INTEGER, spec wants BOOL")
	if got := loadStepJobs(s); len(got) != 0 {
		t.Errorf("a conflicting table got load jobs %v", got)
	}
}

func TestLoadAddsNewNullableColumnAndKeepsTheTablesOwn(t *testing.T) {
	t.Parallel()
	s := mustStack(t, localstack.Options{})
	loadPurchasesTable(t, s, func(sc bigquery.Schema) bigquery.Schema {
		sc = sc[:7] // no note yet
		return append(sc, &bigquery.FieldSchema{Name: "channel", Type: bigquery.StringFieldType})
	})
	loadMustSucceed(t, s, sampleObject(), sample.CSV, sampleClean)
	md, err := s.App.Clients.BigQuery.DatasetInProject(localstack.Project, "sales").Table("purchases").Metadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, f := range md.Schema {
		cols = append(cols, f.Name)
	}
	if !slices.Equal(cols, []string{"date", "store_id", "item_id", "category", "price", "quantity", "promo", "channel", "note", "_row"}) {
		t.Fatalf("columns %v, want note and the row key added after the table's own", cols)
	}
	if n := queryInt(t, s, "SELECT COUNT(*) FROM `dropcast-local.sales.purchases` WHERE note = 'gift wrap'"); n == 0 {
		t.Error("no note was loaded into the new column")
	}
	if n := queryInt(t, s, "SELECT COUNT(*) FROM `dropcast-local.sales.purchases` WHERE channel IS NULL"); n != sampleClean {
		t.Errorf("%d rows with channel NULL, want %d", n, sampleClean)
	}
}

func TestLoadJobFailureFailsTheRunWithBigQuerysMessage(t *testing.T) {
	t.Parallel()
	s := mustStack(t, localstack.Options{})
	// Every job fails: the first and its two transient-failure retries.
	s.BQ.SetFaults(bqemu.Faults{FailJobs: 1 + load.MaxJobRetries})
	r := loadMustFail(t, s, sampleObject(), sample.CSV,
		"backendError: Error encountered during execution. Retrying may solve the problem.")
	if want := "BigQuery load job " + load.JobID(r) + "_r2 failed: "; !strings.HasPrefix(r.Error.Message, want) {
		t.Errorf("run error %q does not start with %q", r.Error.Message, want)
	}
	if n := loadedRows(t, s); n != 0 {
		t.Errorf("a failed job left %d rows", n)
	}
}

// A job that fails for a transient reason is replaced by a new one, once,
// and the run succeeds with the rows loaded once.
func TestLoadJobFailingTransientlyIsRetriedWithANewJob(t *testing.T) {
	t.Parallel()
	s := mustStack(t, localstack.Options{})
	s.BQ.SetFaults(bqemu.Faults{FailJobs: 1})
	r := loadMustSucceed(t, s, sampleObject(), sample.CSV, sampleClean)
	if got := loadStepJobs(s); !slices.Equal(got, []string{load.JobID(r), load.JobID(r) + "_r1"}) {
		t.Errorf("load jobs %v, want the failed one and its retry", got)
	}
	if n := loadedInPartition(t, s, "2026-04-26"); n != sampleClean {
		t.Errorf("partition holds %d rows, want %d", n, sampleClean)
	}
}

func TestLoadSlowJobIsPolledAndReattachedNotRestarted(t *testing.T) {
	t.Parallel()
	s := mustStack(t, localstack.Options{TaskFaults: tasksemu.Faults{Seed: 1, DuplicateRate: 1}})
	s.BQ.SetFaults(bqemu.Faults{SlowJobs: time.Second})
	r := loadMustSucceed(t, s, sampleObject(), sample.CSV, sampleClean)
	s.BQ.SetFaults(bqemu.Faults{})
	if seg := r.StepState(run.Load).Segments; seg < 2 {
		t.Errorf("load polled in %d segments, want >= 2 for a 1s job", seg)
	}
	t.Logf("load: %d segments, %d attempts, %d duplicate deliveries", r.StepState(run.Load).Segments, r.StepState(run.Load).Attempts, s.Tasks.Stats().InjectedDuplicates)
	if got := loadStepJobs(s); !slices.Equal(got, []string{load.JobID(r)}) {
		t.Errorf("load jobs %v, want one", got)
	}
	if n := loadedInPartition(t, s, "2026-04-26"); n != sampleClean {
		t.Errorf("partition holds %d rows, want %d", n, sampleClean)
	}
}
