package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dropcast/dropcast/shared/config"
	"github.com/dropcast/dropcast/shared/conformance"
	"github.com/dropcast/dropcast/shared/emulator/automlemu"
	"github.com/dropcast/dropcast/shared/emulator/vertexemu"
	"github.com/dropcast/dropcast/shared/holds"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/model"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
	"github.com/dropcast/dropcast/shared/spec"
)

const demoModel = "projects/" + sample.Project + "/locations/us-central1/models/" + sample.ModelID

// predictSpec is the sample spec predicting with backend in mode.
func predictSpec(backend, mode string) map[string][]byte {
	s := bytes.Replace(sample.Spec, []byte("backend: vertex\n  mode: batch"), fmt.Appendf(nil, "backend: %s\n  mode: %s", backend, mode), 1)
	return map[string][]byte{sample.SpecName: s}
}

// deployedModels is how many deployments backend's emulator bills for.
func deployedModels(s *localstack.Stack, backend string) int {
	if backend == "automl" {
		return s.AutoML.DeployedModels()
	}
	return s.Vertex.DeployedModels()
}

// awaitUndeployed waits (briefly) until backend's emulator bills for no deployment.
func awaitUndeployed(t *testing.T, s *localstack.Stack, backend string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for deployedModels(s, backend) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d models still deployed", backend, deployedModels(s, backend))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// holdRecord reads the demo model's hold record.
func holdRecord(t *testing.T, s *localstack.Stack, backend string) *holds.Record {
	t.Helper()
	r, err := holds.NewStore(s.Storage, localstack.StateBucket).Get(context.Background(), backend, demoModel)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// checkPredictedEverything checks a succeeded run's predictions and results.
func checkPredictedEverything(t *testing.T, s *localstack.Stack, r *run.Run, mode string) {
	t.Helper()
	if r.Status != run.Succeeded {
		t.Fatalf("run %s: %s %+v", r.ID, r.Status, r.Error)
	}
	dir := r.Outputs["predictions"]
	if mode == "online" && dir != "gs://"+localstack.WorkBucket+"/"+r.WorkPrefix()+"predictions/online/" {
		t.Errorf("predictions output %q, want the run's online directory", dir)
	}
	if !strings.HasPrefix(dir, "gs://"+localstack.WorkBucket+"/"+r.WorkPrefix()+"predictions") {
		t.Errorf("predictions output %q is not under the run's work prefix", dir)
	}
	if r.Counters[run.RowsPredicted] != sampleClean || r.Counters[run.RowsErrored] != 0 {
		t.Errorf("counters %v, want %d rows predicted", r.Counters, sampleClean)
	}
	header, rows := results(t, s, r)
	if len(rows) != sampleClean {
		t.Fatalf("results have %d rows, want %d", len(rows), sampleClean)
	}
	pred := slices.Index(header, "prediction")
	for _, row := range rows {
		if row[pred] != "true" && row[pred] != "false" {
			t.Fatalf("row without a prediction: %v", row)
		}
	}
}

func TestEveryBackendAndModePredictsEveryCleanRowAndLeavesNothingDeployed(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"vertex", "automl"} {
		for _, mode := range []string{"batch", "online"} {
			t.Run(backend+"-"+mode, func(t *testing.T) {
				t.Parallel()
				s := mustStack(t, localstack.Options{Specs: predictSpec(backend, mode)})
				r := dropAndWait(t, s, sampleObject(), sample.CSV)
				checkPredictedEverything(t, s, r, mode)
				if n := deployedModels(s, backend); n != 0 {
					t.Errorf("%d models deployed after the run", n)
				}
				if mode == "online" {
					if r.Counters["prediction_calls"] < 1 {
						t.Errorf("counters %v: no online prediction calls", r.Counters)
					}
					if h := holdRecord(t, s, backend); len(h.Holders) != 0 || h.Deployed || h.Undeploy != nil {
						t.Errorf("hold record after the run: %+v", h)
					}
				}
			})
		}
	}
}

func TestOnlinePredictionFailingAfterDeployStillUndeploys(t *testing.T) {
	t.Parallel()
	// automl rejects every row (INVALID_ARGUMENT): the step fails the run
	// at once. vertex fails every call (INTERNAL): transient, until the
	// retries run out. Either way Finalize lets go of the model.
	for _, backend := range []string{"automl", "vertex"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			s := mustStack(t, localstack.Options{
				Specs:     predictSpec(backend, "online"),
				Configure: func(c *config.Config) { c.MaxAttempts = 3 },
			})
			if backend == "automl" {
				s.AutoML.SetFaults(automlemu.Faults{PredictErrorRate: 1})
			} else {
				s.Vertex.SetFaults(vertexemu.Faults{PredictErrorRate: 1})
			}
			r := dropAndWait(t, s, sampleObject(), sample.CSV)
			if r.Status != run.Failed || r.Error == nil || r.Error.Step != run.Predict {
				t.Fatalf("run %s: %s %+v; want failed in predict", r.ID, r.Status, r.Error)
			}
			awaitUndeployed(t, s, backend)
			if h := holdRecord(t, s, backend); len(h.Holders) != 0 || h.Undeploy == nil && h.Deployed {
				t.Fatalf("hold record after the failure: %+v", h)
			}
		})
	}
}

func TestRunsSharingAModelBothPredictEverythingAndTheLastUndeploys(t *testing.T) {
	t.Parallel()
	s := mustStack(t, localstack.Options{Specs: predictSpec("vertex", "online"), Latency: 100 * time.Millisecond})
	// Rate limiting stretches each run's prediction phase (quota back-offs),
	// so the two overlap.
	s.Vertex.SetFaults(vertexemu.Faults{Seed: 3, QuotaErrorRate: 0.3})
	objects := []string{"incoming/20260426-120000.csv", "incoming/20260427-120000.csv"}
	runs := make([]*run.Run, len(objects))
	var wg sync.WaitGroup
	for i, obj := range objects {
		wg.Go(func() { runs[i] = dropAndWait(t, s, obj, sample.CSV) })
	}
	wg.Wait()
	for _, r := range runs {
		if r == nil {
			t.FailNow()
		}
		checkPredictedEverything(t, s, r, "online")
	}
	a, b := runs[0].StepState(run.Predict), runs[1].StepState(run.Predict)
	if !a.StartedAt.Before(b.FinishedAt) || !b.StartedAt.Before(a.FinishedAt) {
		t.Fatalf("predict steps did not overlap: [%v, %v] and [%v, %v]", a.StartedAt, a.FinishedAt, b.StartedAt, b.FinishedAt)
	}
	if runs[0].Counters["prediction_calls"]+runs[1].Counters["prediction_calls"] > s.Vertex.PredictCalls() {
		t.Errorf("runs count more calls than the emulator served")
	}
	if n := s.Vertex.DeployedModels(); n != 0 {
		t.Fatalf("%d models deployed after both runs", n)
	}
	if h := holdRecord(t, s, "vertex"); len(h.Holders) != 0 || h.Deployed || h.Undeploy != nil {
		t.Fatalf("hold record after both runs: %+v", h)
	}
}

// TestSampleBatchWritesTheDocumentedLayout runs the sample in the default
// mode (Vertex AI, batch) and checks the run's predictions are where and as
// Google documents them (fixtures vertex-batch-output-dir and
// vertex-batch-output-classification): a directory
// prediction-<model display name>-<YYYY-MM-DDThh:mm:ss.sssZ> holding
// predictions_1.csv, whose header is every input column plus one
// <target>_<class>_score column per class.
func TestSampleBatchWritesTheDocumentedLayout(t *testing.T) {
	t.Parallel()
	s := mustStack(t, localstack.Options{})
	r := dropAndWait(t, s, sampleObject(), sample.CSV)
	if r.Status != run.Succeeded {
		t.Fatalf("run %s: %s %+v", r.ID, r.Status, r.Error)
	}
	dir := r.Outputs["predictions"]
	pattern := strings.TrimSpace(string(conformance.Load(t, "vertex-batch-output-dir").MustFile(t, "pattern.txt")))
	re := regexp.MustCompile(strings.Replace(pattern, "MODEL", sample.ModelID, 1))
	if !re.MatchString(path.Base(dir)) {
		t.Fatalf("predictions directory %q, want a name matching %s", dir, re)
	}
	first := dir + "/predictions_1.csv"
	recs, err := csv.NewReader(bytes.NewReader(readObject(t, s, first))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	p, err := spec.Parse(sample.SpecName, sample.Spec)
	if err != nil {
		t.Fatal(err)
	}
	want := p.CleanHeader()
	m := model.Demo()
	for _, class := range m.Classes() {
		want = append(want, m.Target()+"_"+class+"_score")
	}
	if !slices.Equal(slices.Sorted(slices.Values(recs[0])), slices.Sorted(slices.Values(want))) {
		t.Fatalf("%s header %q, want the columns %q", first, recs[0], want)
	}
}

// TestOnlineSpecNamingTheProjectEitherWay runs online predictions with a
// spec that names the model's project by ID and one that names it by
// number (the form the services answer with), on both backends: each run
// succeeds and leaves nothing deployed.
func TestOnlineSpecNamingTheProjectEitherWay(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"vertex", "automl"} {
		for _, form := range []string{"id", "number"} {
			t.Run(backend+"-"+form, func(t *testing.T) {
				t.Parallel()
				specs := predictSpec(backend, "online")
				if form == "number" {
					number := projectNumberOf(t, backend)
					s := bytes.Replace(specs[sample.SpecName], []byte("projects/"+sample.Project+"/"), []byte("projects/"+number+"/"), 1)
					if bytes.Equal(s, specs[sample.SpecName]) {
						t.Fatal("the sample spec does not name its model's project by ID")
					}
					specs[sample.SpecName] = s
				}
				st := mustStack(t, localstack.Options{Specs: specs})
				r := dropAndWait(t, st, sampleObject(), sample.CSV)
				checkPredictedEverything(t, st, r, "online")
				awaitUndeployed(t, st, backend)
			})
		}
	}
}

// projectNumberOf is the number backend's emulator gives the local stack's
// project, read from an emulator of its own.
func projectNumberOf(t *testing.T, backend string) string {
	t.Helper()
	if backend == "automl" {
		srv, err := automlemu.Start(automlemu.Options{Project: localstack.Project, Location: localstack.Region})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		return srv.ProjectNumber()
	}
	srv, err := vertexemu.Start(vertexemu.Options{Project: localstack.Project, Location: localstack.Region})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	return srv.ProjectNumber()
}
