package vertex

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dropcast/dropcast/shared/emulator/gcsemu/gcsemutest"
	"github.com/dropcast/dropcast/shared/emulator/vertexemu"
	"github.com/dropcast/dropcast/shared/model"
)

type env struct {
	emu   *vertexemu.Server
	gcs   *storage.Client
	b     *Backend
	model string
}

func newEnv(t *testing.T, opts vertexemu.Options) *env {
	t.Helper()
	ctx := context.Background()
	gcs := gcsemutest.Start(t, "data")
	opts.Storage = gcs
	opts.Project, opts.Location = "proj", "europe-west1"
	opts.Models = map[string]model.Predictor{"demo-returns": model.Demo()}
	emu, err := vertexemu.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	b, err := New(ctx, Config{Project: "proj", Location: "europe-west1", Storage: gcs, MaxInstances: 2},
		option.WithEndpoint(emu.Addr()),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &env{emu: emu, gcs: gcs, b: b, model: emu.ModelName("demo-returns")}
}

func (e *env) put(t *testing.T, object, body string) {
	t.Helper()
	w := e.gcs.Bucket("data").Object(object).NewWriter(context.Background())
	io.WriteString(w, body)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// eventually polls f until it reports true, failing after a few seconds.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !f(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: timed out", what)
		}
	}
}

const header = "date,store_id,item_id,category,price,quantity,promo,note,dropcast_row"

// sample is a clean part (every non-empty field quoted, as preprocess writes
// it) and its rows with their keys: 2..5 good, 6 lacks a price.
func sample() (string, [][]string) {
	rows := [][]string{
		{"2024-01-02", "1", "SKU-1", "apparel", "99.50", "1", "true", "gift, wrapped", "2"},
		{"2024-01-03", "2", "SKU-2", "grocery", "3.20", "4", "false", "", "3"},
		{"2024-01-04", "3", "SKU-3", "electronics", "450.00", "1", "false", "x", "4"},
		{"2024-01-05", "4", "SKU-4", "toys", "12.00", "2", "true", "", "5"},
		{"2024-01-06", "5", "SKU-5", "home", "cheap", "1", "false", "", "6"}, // price is not a number: no prediction
	}
	var sb strings.Builder
	for _, r := range append([][]string{strings.Split(header, ",")}, rows...) {
		for i, v := range r {
			if i > 0 {
				sb.WriteByte(',')
			}
			if v != "" {
				v = `"` + v + `"`
			}
			sb.WriteString(v)
		}
		sb.WriteByte('\n')
	}
	return sb.String(), rows
}

// want is the demo model's prediction for a sample row.
func want(t *testing.T, row []string) model.Prediction {
	t.Helper()
	values := map[string]string{}
	for i, col := range strings.Split(header, ",") {
		values[col] = row[i]
	}
	p, err := model.Demo().Predict(values)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
