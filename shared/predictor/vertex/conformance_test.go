package vertex

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/dropcast/dropcast/shared/conformance"
	"github.com/dropcast/dropcast/shared/emulator/vertexemu"
	"github.com/dropcast/dropcast/shared/predictor"
)

// header reads the header of a CSV file of a fixture.
func csvHeader(t *testing.T, f *conformance.Fixture, file string) []string {
	t.Helper()
	line, _, _ := strings.Cut(string(f.MustFile(t, file)), "\n")
	cols := strings.Split(line, ",")
	for i, c := range cols {
		cols[i] = strings.Trim(c, `"`)
	}
	return cols
}

// readFixtureOutput puts the fixture's files in a directory and reads it
// file by file, as postprocess does.
func readFixtureOutput(t *testing.T, f *conformance.Fixture, input []string) ([]predictor.Prediction, int64) {
	t.Helper()
	e := newEnv(t, vertexemu.Options{})
	for _, file := range f.Files {
		if strings.HasPrefix(file.Name, "predictions_") || strings.HasPrefix(file.Name, "errors_") {
			e.put(t, "out/job/"+file.Name, string(file.Data))
		}
	}
	var got []predictor.Prediction
	n, err := predictor.ReadAll(context.Background(), e.b, predictor.Output{Dir: "gs://data/out/job", Input: input}, func(p *predictor.Row) error {
		got = append(got, p.Prediction)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, n
}

func TestConformanceBatchOutputClassification(t *testing.T) {
	f := conformance.Load(t, "vertex-batch-output-classification")
	got, _ := readFixtureOutput(t, f, csvHeader(t, f, "input.csv"))
	var lines []string
	for _, p := range got {
		lines = append(lines, fmt.Sprintf("%s %s %s", p.RowKey, p.Label, strconv.FormatFloat(p.Score, 'f', -1, 64)))
		if len(p.Scores) != 2 {
			t.Errorf("row %s: scores %v, want both classes", p.RowKey, p.Scores)
		}
	}
	if want := strings.TrimSpace(string(f.MustFile(t, "expected.txt"))); strings.Join(lines, "\n") != want {
		t.Fatalf("read\n%s\nwant\n%s", strings.Join(lines, "\n"), want)
	}
}

func TestConformanceBatchOutputRegression(t *testing.T) {
	f := conformance.Load(t, "vertex-batch-output-regression")
	got, _ := readFixtureOutput(t, f, csvHeader(t, f, "input.csv"))
	var lines []string
	for _, p := range got {
		lines = append(lines, p.RowKey+" "+p.Label)
		if p.Scores != nil {
			t.Errorf("row %s: a regression with class scores %v", p.RowKey, p.Scores)
		}
	}
	if want := strings.TrimSpace(string(f.MustFile(t, "expected.txt"))); strings.Join(lines, "\n") != want {
		t.Fatalf("read\n%s\nwant\n%s", strings.Join(lines, "\n"), want)
	}
}

func TestConformanceBatchOutputFiles(t *testing.T) {
	f := conformance.Load(t, "vertex-batch-output-files")
	got, errorRows := readFixtureOutput(t, f, []string{"dropcast_row", "x"})
	var keys []string
	for _, p := range got {
		keys = append(keys, p.RowKey)
	}
	want := strings.Split(strings.TrimSpace(string(f.MustFile(t, "expected.txt"))), "\n")
	if strings.Join(keys, " ") != want[0] || fmt.Sprintf("errors %d", errorRows) != want[1] {
		t.Fatalf("read %v and %d error rows, want %q", keys, errorRows, want)
	}
}

func TestConformanceResourceNames(t *testing.T) {
	f := conformance.Load(t, "vertex-resource-names")
	for _, line := range strings.Split(strings.TrimSpace(string(f.MustFile(t, "pairs.txt"))), "\n") {
		w := strings.Fields(line)
		if got := sameResource(w[1], w[2]); got != (w[0] == "same") {
			t.Errorf("sameResource(%s, %s) = %v, want %s", w[1], w[2], got, w[0])
		}
	}
}

func TestConformanceOnlinePrediction(t *testing.T) {
	f := conformance.Load(t, "vertex-online-prediction")
	var lines []string
	for _, file := range []string{"classification.json", "regression.json"} {
		var preds []any
		if err := json.Unmarshal(f.MustFile(t, file), &preds); err != nil {
			t.Fatal(err)
		}
		for _, v := range preds {
			p, err := fromResult(v)
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			lines = append(lines, p.Label+" "+strconv.FormatFloat(p.Score, 'f', -1, 64))
		}
	}
	if want := strings.TrimSpace(string(f.MustFile(t, "expected.txt"))); strings.Join(lines, "\n") != want {
		t.Fatalf("read\n%s\nwant\n%s", strings.Join(lines, "\n"), want)
	}
}

// jobServer answers GetBatchPredictionJob with documented job resources
// and records the filters of ListBatchPredictionJobs.
type jobServer struct {
	aiplatformpb.UnimplementedJobServiceServer
	jobs    map[string]*aiplatformpb.BatchPredictionJob
	mu      sync.Mutex
	filters []string
}

func (s *jobServer) GetBatchPredictionJob(_ context.Context, req *aiplatformpb.GetBatchPredictionJobRequest) (*aiplatformpb.BatchPredictionJob, error) {
	if j, ok := s.jobs[req.GetName()]; ok {
		return j, nil
	}
	return nil, status.Errorf(codes.NotFound, "job %s not found", req.GetName())
}

func (s *jobServer) ListBatchPredictionJobs(_ context.Context, req *aiplatformpb.ListBatchPredictionJobsRequest) (*aiplatformpb.ListBatchPredictionJobsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.filters = append(s.filters, req.GetFilter())
	return &aiplatformpb.ListBatchPredictionJobsResponse{}, nil
}

// startJobServer serves srv and returns a Backend on it.
func startJobServer(t *testing.T, srv *jobServer) *Backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	aiplatformpb.RegisterJobServiceServer(g, srv)
	go g.Serve(ln)
	t.Cleanup(g.Stop)
	e := newEnv(t, vertexemu.Options{})
	b, err := New(context.Background(), Config{Project: "my-project", Location: "us-central1", Storage: e.gcs},
		option.WithEndpoint(ln.Addr().String()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestConformanceJobStates polls the documented job resources: a
// partially succeeded job is done with the directory it reports, a failed
// one is done with its error.
func TestConformanceJobStates(t *testing.T) {
	f := conformance.Load(t, "vertex-job-states")
	srv := &jobServer{jobs: map[string]*aiplatformpb.BatchPredictionJob{}}
	for _, file := range []string{"job.json", "failed.json"} {
		j := &aiplatformpb.BatchPredictionJob{}
		if err := protojson.Unmarshal(f.MustFile(t, file), j); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		srv.jobs[j.GetName()] = j
	}
	b := startJobServer(t, srv)
	ctx := context.Background()
	st, err := b.PollBatch(ctx, "projects/12345/locations/us-central1/batchPredictionJobs/67890")
	if err != nil || !st.Done || st.Err != nil || st.OutputDir != "gs://bucket/out/prediction-model_1-2020-05-29T19:58:12.345Z" {
		t.Fatalf("partially succeeded job: %+v %v", st, err)
	}
	st, err = b.PollBatch(ctx, "projects/12345/locations/us-central1/batchPredictionJobs/67891")
	if err != nil || !st.Done || st.Err == nil || !strings.Contains(st.Err.Error(), "has no header") {
		t.Fatalf("failed job: %+v %v", st, err)
	}
}

// TestConformanceListJobsFilter checks StartBatch looks for its key's job
// with the documented display_name filter.
func TestConformanceListJobsFilter(t *testing.T) {
	f := conformance.Load(t, "vertex-list-jobs-filter")
	want := strings.TrimSpace(string(f.MustFile(t, "filter.txt")))
	key := strings.TrimSuffix(strings.TrimPrefix(want, `display_name="`), `"`)
	srv := &jobServer{}
	b := startJobServer(t, srv)
	_, _ = b.StartBatch(context.Background(), predictor.BatchRequest{
		Key: key, Model: "projects/my-project/locations/us-central1/models/5678",
		InputURIs: []string{"gs://b/in/part-*"}, OutputPrefix: "gs://b/out",
	})
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if !slices.Contains(srv.filters, want) {
		t.Fatalf("filters sent %q, want %q", srv.filters, want)
	}
}
