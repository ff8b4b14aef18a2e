package main

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/gcsuri"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
)

// smokeStack starts a local stack with the given specs (nil: the sample's)
// and puts its configuration in the environment, as `dropcast local --watch`
// tells a user to.
func smokeStack(t *testing.T, specs map[string][]byte) *localstack.Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := localstack.Start(ctx, localstack.Options{Specs: specs, Latency: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	for _, kv := range s.Config.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return s
}

// sampleName is the shape of the smoke test's uploads: the sample spec's pattern.
var sampleName = regexp.MustCompile(`^incoming/\d{8}-\d{6}\.csv$`)

func runSmoke(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code := cmdSmoke(ctx, append([]string{"--interval", "50ms", "--timeout", "90s"}, args...), nil, &out, &errOut)
	return code, out.String(), errOut.String()
}

// smokeOn runs the smoke steps against s's developer App and returns their error.
func smokeOn(s *localstack.Stack) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := smokeOptions{
		timeout: 90 * time.Second, interval: 50 * time.Millisecond, now: time.Now,
		conn:    connFlags{local: true}, // the App below is the stack's: no configuration to check
		connect: func(context.Context, connFlags, access) (*app.App, func(), error) { return s.App, func() {}, nil },
	}
	var out bytes.Buffer
	return smoke(ctx, o, &out)
}

func inboxObjects(t *testing.T, s *localstack.Stack) []string {
	t.Helper()
	names, err := gcsuri.List(context.Background(), s.Storage.Bucket(localstack.InboxBucket), "incoming/")
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func objectExists(t *testing.T, s *localstack.Stack, uri string) bool {
	t.Helper()
	bucket, name, err := gcsuri.Split(uri)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Storage.Bucket(bucket).Object(name).Attrs(context.Background())
	if err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

func TestSmokePassesOnTheLocalStackAndRemovesItsUpload(t *testing.T) {
	s := smokeStack(t, nil)
	code, out, errOut := runSmoke(t)
	wantExit(t, "smoke", code, 0, out, errOut)

	runs, err := s.App.Runs.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Status != run.Succeeded {
		t.Fatalf("runs after smoke: %+v", runs)
	}
	first := runs[0]
	if !sampleName.MatchString(first.Source.Object) || first.FileDate != sample.FileName[:8] {
		t.Errorf("uploaded %s (file date %s), want incoming/%s-HHMMSS.csv", first.Source.Object, first.FileDate, sample.FileName[:8])
	}
	if left := inboxObjects(t, s); len(left) != 0 {
		t.Errorf("the upload was not removed: %v", left)
	}
	if !objectExists(t, s, first.Outputs["results"]) {
		t.Errorf("results %s removed without --remove-outputs", first.Outputs["results"])
	}

	// A second smoke test makes its own run, and with --remove-outputs
	// removes that run's results and work files and nothing of the first's.
	code, out, errOut = runSmoke(t, "--remove-outputs")
	wantExit(t, "smoke --remove-outputs", code, 0, out, errOut)
	runs, err = s.App.Runs.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 {
		t.Fatalf("%d runs after two smoke tests, want 2", len(runs))
	}
	second := runs[0]
	if second.ID == first.ID {
		second = runs[1]
	}
	if second.Status != run.Succeeded {
		t.Fatalf("second run %s", second.Status)
	}
	if objectExists(t, s, second.Outputs["results"]) {
		t.Errorf("--remove-outputs kept %s", second.Outputs["results"])
	}
	if n := countObjects(t, s.Storage.Bucket(localstack.WorkBucket), workPrefix(second)); n != 0 {
		t.Errorf("--remove-outputs kept %d work files of %s", n, second.ID)
	}
	if !objectExists(t, s, first.Outputs["results"]) || countObjects(t, s.Storage.Bucket(localstack.WorkBucket), workPrefix(first)) == 0 {
		t.Errorf("--remove-outputs of %s touched the first run's outputs", second.ID)
	}
	if left := inboxObjects(t, s); len(left) != 0 {
		t.Errorf("the second upload was not removed: %v", left)
	}
}

func TestSmokeFailsNamingTheStep(t *testing.T) {
	missingModel := bytes.Replace(sample.Spec, []byte("models/"+sample.ModelID), []byte("models/no-such-model"), 1)
	if bytes.Equal(missingModel, sample.Spec) {
		t.Fatal("the sample spec no longer names the demo model")
	}
	for _, tc := range []struct {
		name  string
		specs map[string][]byte
		step  string
	}{
		{"a spec whose model does not exist fails the run", map[string][]byte{sample.SpecName: missingModel}, smokeRun},
		{"no spec takes the sample", map[string][]byte{sample.SpecName: bytes.Replace(sample.Spec, []byte("^incoming/"), []byte("^elsewhere/"), 1)}, smokeSpec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := smokeStack(t, tc.specs)
			var se *smokeError
			if err := smokeOn(s); !errors.As(err, &se) || se.Step != tc.step {
				t.Fatalf("smoke: %v, want a failure of step %s", err, tc.step)
			}
			if left := inboxObjects(t, s); len(left) != 0 {
				t.Errorf("the upload was not removed after the failure: %v", left)
			}
			code, out, errOut := runSmoke(t)
			wantExit(t, "dropcast smoke", code, 1, out, errOut)
		})
	}
}

func TestSmokeUsageAndConfig(t *testing.T) {
	for _, v := range []string{"DROPCAST_PROJECT", "DROPCAST_STATE_BUCKET", "DROPCAST_INBOX_BUCKET", "DROPCAST_SPECS"} {
		t.Setenv(v, "")
	}
	for _, args := range [][]string{{"extra"}, {"--timeout", "0s"}, {}} {
		code, out, errOut := runSmoke(t, args...)
		wantExit(t, strings.Join(append([]string{"smoke"}, args...), " "), code, 2, out, errOut)
	}
}

func TestSampleObjectIsTheSamplesDayAndTheUploadsTime(t *testing.T) {
	at := time.Date(2031, 7, 9, 23, 59, 58, 0, time.UTC)
	if got, want := sampleObject(at), "incoming/"+sample.FileName[:8]+"-235958.csv"; got != want {
		t.Errorf("sampleObject = %s, want %s", got, want)
	}
	if sampleObject(at) == sampleObject(at.Add(time.Second)) {
		t.Error("two uploads a second apart share a name")
	}
}
