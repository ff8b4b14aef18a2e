package vertexemu

import (
	"context"
	"io"
	"testing"
	"time"

	aiplatform "cloud.google.com/go/aiplatform/apiv1"
	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"
	"cloud.google.com/go/storage"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dropcast/dropcast/shared/emulator/gcsemu/gcsemutest"
	"github.com/dropcast/dropcast/shared/gcsuri"
	"github.com/dropcast/dropcast/shared/model"
)

// env is an emulator with a Cloud Storage emulator and real clients.
type env struct {
	srv      *Server
	gcs      *storage.Client
	jobs     *aiplatform.JobClient
	models   *aiplatform.ModelClient
	eps      *aiplatform.EndpointClient
	predict  *aiplatform.PredictionClient
	modelRef string
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	ctx := context.Background()
	gcs := gcsemutest.Start(t, "in", "out")
	opts.Storage = gcs
	if opts.Models == nil {
		opts.Models = map[string]model.Predictor{"demo-returns": model.Demo()}
	}
	srv, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	co := []option.ClientOption{
		option.WithEndpoint(srv.Addr()),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
	e := &env{srv: srv, gcs: gcs, modelRef: srv.ModelName("demo-returns")}
	if e.jobs, err = aiplatform.NewJobClient(ctx, co...); err != nil {
		t.Fatal(err)
	}
	if e.models, err = aiplatform.NewModelClient(ctx, co...); err != nil {
		t.Fatal(err)
	}
	if e.eps, err = aiplatform.NewEndpointClient(ctx, co...); err != nil {
		t.Fatal(err)
	}
	if e.predict, err = aiplatform.NewPredictionClient(ctx, co...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.jobs.Close(); e.models.Close(); e.eps.Close(); e.predict.Close() })
	return e
}

func (e *env) put(t *testing.T, uri, body string) {
	t.Helper()
	bucket, object, err := gcsuri.Split(uri)
	if err != nil {
		t.Fatal(err)
	}
	w := e.gcs.Bucket(bucket).Object(object).NewWriter(context.Background())
	io.WriteString(w, body)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func (e *env) get(t *testing.T, uri string) string {
	t.Helper()
	bucket, object, err := gcsuri.Split(uri)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.gcs.Bucket(bucket).Object(object).NewReader(context.Background())
	if err != nil {
		t.Fatalf("read %s: %v", uri, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitJob polls a job until it is in a final state.
func (e *env) waitJob(t *testing.T, name string) *aiplatformpb.BatchPredictionJob {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		j, err := e.jobs.GetBatchPredictionJob(context.Background(), &aiplatformpb.GetBatchPredictionJobRequest{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if terminal(j.State) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s", name, j.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) parent() string { return e.srv.parent() }

func csvJob(e *env, display string, uris ...string) *aiplatformpb.CreateBatchPredictionJobRequest {
	return &aiplatformpb.CreateBatchPredictionJobRequest{
		Parent: e.parent(),
		BatchPredictionJob: &aiplatformpb.BatchPredictionJob{
			DisplayName: display,
			Model:       e.modelRef,
			InputConfig: &aiplatformpb.BatchPredictionJob_InputConfig{
				InstancesFormat: "csv",
				Source:          &aiplatformpb.BatchPredictionJob_InputConfig_GcsSource{GcsSource: &aiplatformpb.GcsSource{Uris: uris}},
			},
			OutputConfig: &aiplatformpb.BatchPredictionJob_OutputConfig{
				PredictionsFormat: "csv",
				Destination: &aiplatformpb.BatchPredictionJob_OutputConfig_GcsDestination{
					GcsDestination: &aiplatformpb.GcsDestination{OutputUriPrefix: "gs://out/runs/r1"},
				},
			},
		},
	}
}

// purchasesHeader is the header of a clean part: quoted, as Vertex AI asks.
const purchasesHeader = `"date","store_id","item_id","category","price","quantity","promo","note","dropcast_row"` + "\n"

// list returns the object names under prefix in bucket, in name order.
func (e *env) list(t *testing.T, bucket, prefix string) []string {
	t.Helper()
	names, err := gcsuri.List(context.Background(), e.gcs.Bucket(bucket), prefix)
	if err != nil {
		t.Fatal(err)
	}
	return names
}
