package infratest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
)

// expect is what the checker cannot read from the code.
var expect = Expect{
	Invoker:      "invoker",
	People:       []string{"status"},
	Scheduled:    []string{"sweep"},
	Trigger:      "trigger",
	SecretMounts: map[string]string{"DROPCAST_SLACK_WEBHOOK": "notify"},
	World: map[string]string{
		"enable_automl":  "true",
		"status_viewers": `["group:ops@example.com"]`,
		"notify_secrets": `["DROPCAST_SLACK_WEBHOOK", "DROPCAST_WEBHOOK_URL"]`,
	},
}

// repoRoot is the repository root: two levels above this file.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func TestInfraMatchesCode(t *testing.T) {
	root := repoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "functions")); os.IsNotExist(err) {
		t.Skip("no functions/ yet")
	}
	for _, p := range Check(root, expect) {
		t.Error(p)
	}
}

// stubs are the functions of the synthetic repository the mutation tests use,
// so they do not depend on how far the real functions/ has come.
var stubs = map[string]Kind{
	"ingest": CloudEvent, "notify": CloudEvent,
	"preprocess": HTTP, "load": HTTP, "predict": HTTP, "postprocess": HTTP, "sweep": HTTP, "status": HTTP,
	"export": HTTP, "trigger": HTTP,
}

// fixtureSpecs are the pipeline specs of the synthetic repository (in the
// default specs_dir, infra/specs): one with two schedules, one with a null
// schedules key, one with none. The checker reads only name and schedules;
// Terraform decodes the whole file.
var fixtureSpecs = map[string]string{
	"sales.yaml": `name: sales
match: '^incoming/sales-(?P<date>\d{8})\.csv$'
columns:
  - {name: store_id, type: INT64, required: true}
  - {name: amount, type: NUMERIC, min: "0"}
reject_threshold:
  max_ratio: 0.05
destination:
  table: dropcast.sales
predict:
  backend: vertex
  model: projects/p/locations/us-central1/models/1
schedules:
  - name: morning
    cron: "0 6 * * *"
    time_zone: Europe/Berlin
    query: "SELECT * FROM dropcast.sales WHERE date = '{date}'"
  - name: weekly
    cron: "30 2 * * 1"
    table: dropcast.sales
`,
	"returns.yml":    "name: returns\nmatch: '^incoming/returns-.*'\nschedules:\n",
	"purchases.yaml": "name: purchases\nmatch: '^incoming/purchases-.*'\n",
}

// fixture builds a repository in a temporary directory: a copy of infra/ (its
// .tf files), the specs in fixtureSpecs, copies of shared/config/config.go and
// go.mod, and one stub package per function in stubs, imported by a root package.
func fixture(t *testing.T) string {
	t.Helper()
	src, dst := repoRoot(t), t.TempDir()
	copyFile := func(rel string) {
		b, err := os.ReadFile(filepath.Join(src, rel))
		if err != nil {
			t.Fatal(err)
		}
		write(t, dst, rel, string(b))
	}
	err := filepath.WalkDir(filepath.Join(src, "infra"), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".tf") {
			rel, _ := filepath.Rel(src, path)
			copyFile(rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range fixtureSpecs {
		write(t, dst, filepath.Join("infra", "specs", name), content)
	}
	copyFile("go.mod")
	copyFile(filepath.Join("shared", "config", "config.go"))
	var imports []string
	for name, kind := range stubs {
		write(t, dst, filepath.Join("functions", name, name+".go"), "package "+name+"\n\n"+
			"import \"github.com/GoogleCloudPlatform/functions-framework-go/functions\"\n\n"+
			"func init() { functions."+string(kind)+"(\""+name+"\", nil) }\n")
		imports = append(imports, "\t_ \"github.com/dropcast/dropcast/functions/"+name+"\"\n")
	}
	sort.Strings(imports)
	write(t, dst, "dropcast.go", "package dropcast\n\nimport (\n"+strings.Join(imports, "")+")\n")
	return dst
}

func write(t *testing.T, root, rel, content string) {
	t.Helper()
	path := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// edit rewrites the file rel under root with the regular expression re
// replaced by repl (once); the edit must change the file.
func edit(t *testing.T, root, rel, re, repl string) {
	t.Helper()
	path := filepath.Join(root, rel)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rx := regexp.MustCompile(re)
	loc := rx.FindSubmatchIndex(b)
	if loc == nil {
		t.Fatalf("edit %s: %q not found; update the mutation", rel, re)
	}
	out := append([]byte{}, b[:loc[0]]...)
	out = rx.Expand(out, []byte(repl), b, loc)
	out = append(out, b[loc[1]:]...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFixtureIsClean(t *testing.T) {
	for _, p := range Check(fixture(t), expect) {
		t.Error(p)
	}
}

// TestCheckBites breaks the fixture one way at a time and expects the checker
// to name the break.
func TestCheckBites(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(t *testing.T, root string)
		want   []string
	}{
		{"function without infra", func(t *testing.T, root string) {
			write(t, root, "functions/backfill/backfill.go", "package backfill\n\nimport ff \"github.com/GoogleCloudPlatform/functions-framework-go/functions\"\n\nfunc init() { ff.HTTP(\"backfill\", nil) }\n")
			edit(t, root, "dropcast.go", `import \(\n`, "import (\n\t_ \"github.com/dropcast/dropcast/functions/backfill\"\n")
		}, []string{`functions: backfill (registered at functions/backfill/backfill.go:5) is not deployed`}},
		{"function removed from infra", func(t *testing.T, root string) {
			edit(t, root, "infra/main.tf", `(?s)\n    predict = \{.*?\n    \}\n`, "\n")
		}, []string{`functions: predict (registered at functions/predict/predict.go:5) is not deployed`, `iam: applied: service account predict is expected but not created`}},
		{"memory not a documented tier", func(t *testing.T, root string) {
			edit(t, root, "infra/main.tf", `(?s)(\n    load = \{.*?memory\s*=\s*)"[0-9]+(Mi|Gi)"`, `${1}"300Mi"`)
		}, []string{`functions: load: memory "300Mi" is not a Cloud Run functions memory tier`}},
		{"Go memory limit above the instance's headroom", func(t *testing.T, root string) {
			edit(t, root, "infra/main.tf", `"256Mi" = "230MiB"`, `"256Mi" = "250MiB"`)
		}, []string{`functions: load: GOMEMLIMIT "250MiB" is 98% of the function's memory 256Mi, want 80-95%`}},
		{"Go memory limit not set", func(t *testing.T, root string) {
			edit(t, root, "infra/main.tf", `\n\s*GOMEMLIMIT\s*=[^\n]*`, "")
		}, []string{`functions: load: GOMEMLIMIT "" is not set`}},
		{"function without code", func(t *testing.T, root string) {
			if err := os.RemoveAll(filepath.Join(root, "functions", "load")); err != nil {
				t.Fatal(err)
			}
		}, []string{`functions: load is deployed but no code under functions/ registers it`}},
		{"HTTP function deployed with a trigger", func(t *testing.T, root string) {
			write(t, root, "functions/notify/notify.go", "package notify\n\nimport \"github.com/GoogleCloudPlatform/functions-framework-go/functions\"\n\nfunc init() { functions.HTTP(\"notify\", nil) }\n")
		}, []string{`functions: notify is an HTTP function (functions/notify/notify.go:5) but is deployed with an event trigger`}},
		{"root package misses a function", func(t *testing.T, root string) {
			edit(t, root, "dropcast.go", `\t_ "github.com/dropcast/dropcast/functions/sweep"\n`, "")
		}, []string{`functions: sweep: the root package does not import github.com/dropcast/dropcast/functions/sweep`}},
		{"required env var removed", func(t *testing.T, root string) {
			edit(t, root, "infra/main.tf", `\n\s*DROPCAST_WORK_BUCKET\s*=.*`, "")
		}, []string{`env: ingest: required DROPCAST_WORK_BUCKET (shared/config) is not set`, `env: status: required DROPCAST_WORK_BUCKET (shared/config) is not set`}},
		{"config gains a required var", func(t *testing.T, root string) {
			edit(t, root, "shared/config/config.go", `type Config struct \{\n`, "type Config struct {\n\tNewThing string `env:\"DROPCAST_NEW_THING\" required:\"true\"`\n")
		}, []string{`env: load: required DROPCAST_NEW_THING (shared/config) is not set`}},
		{"secret as plain env", func(t *testing.T, root string) {
			edit(t, root, "infra/main.tf", `(function_env = \{\n)`, "${1}    DROPCAST_SLACK_WEBHOOK = \"https://hooks.slack.com/services/x\"\n")
		}, []string{`secrets: notify: secret DROPCAST_SLACK_WEBHOOK is a plain environment variable`}},
		{"secret not mounted", func(t *testing.T, root string) {
			edit(t, root, "infra/main.tf", `notify = \{ for k in var.notify_secrets : k => local.secret_env\[k\] \}`, "notify = {}")
		}, []string{`secrets: notify must mount DROPCAST_SLACK_WEBHOOK from Secret Manager`}},
		{"secret value in state", func(t *testing.T, root string) {
			write(t, root, "infra/leak.tf", "resource \"google_secret_manager_secret_version\" \"slack\" {\n  secret      = google_secret_manager_secret.slack_webhook.id\n  secret_data = \"https://hooks.slack.com/services/x\"\n}\n")
		}, []string{`google_secret_manager_secret_version.slack would put the secret's value in Terraform state`}},
		{"emulator endpoint in production", func(t *testing.T, root string) {
			edit(t, root, "infra/main.tf", `(function_env = \{\n)`, "${1}    DROPCAST_STORAGE_ENDPOINT = \"http://localhost:4443\"\n")
		}, []string{`env: sweep: emulator endpoint DROPCAST_STORAGE_ENDPOINT must not be set in production`}},
		{"queue reference to the wrong thing", func(t *testing.T, root string) {
			edit(t, root, "infra/main.tf", `(DROPCAST_TASKS_QUEUE\s*=\s*)".*"`, `${1}google_cloud_tasks_queue.steps.name`)
		}, []string{`refs: DROPCAST_TASKS_QUEUE is "«google_cloud_tasks_queue.steps.name»", want projects/PROJECT/locations/REGION/queues/`}},
		{"topic ID vs full name", func(t *testing.T, root string) {
			edit(t, root, "infra/main.tf", `(DROPCAST_EVENTS_TOPIC\s*=\s*)google_pubsub_topic.events.name`, `${1}google_pubsub_topic.events.id`)
		}, []string{`refs: DROPCAST_EVENTS_TOPIC is "«google_pubsub_topic.events.id»", want the name (topic ID)`}},
		{"max attempts differ from the queue", func(t *testing.T, root string) {
			edit(t, root, "infra/main.tf", `(DROPCAST_MAX_ATTEMPTS\s*=\s*).*`, `${1}"5"`)
		}, []string{`queue: google_cloud_tasks_queue.steps: max_attempts "10" differs from DROPCAST_MAX_ATTEMPTS "5"`}},
		{"step timeout differs from the dispatch deadline", func(t *testing.T, root string) {
			edit(t, root, "infra/main.tf", `(DROPCAST_DISPATCH_DEADLINE\s*=\s*).*`, `${1}"300s"`)
		}, []string{`queue: load: timeout 600 s differs from DROPCAST_DISPATCH_DEADLINE 5m0s`}},
		{"IAM binding resource removed", func(t *testing.T, root string) {
			edit(t, root, "infra/iam.tf", `(?s)resource "google_pubsub_topic_iam_member" "sa" \{.*?\n\}\n`, "")
		}, []string{`iam: applied: ingest lacks roles/pubsub.publisher on events`, `iam: applied: sweep lacks roles/pubsub.publisher on events`}},
		{"authoritative binding", func(t *testing.T, root string) {
			write(t, root, "infra/extra.tf", "resource \"google_project_iam_binding\" \"x\" {\n  project = var.project_id\n  role    = \"roles/viewer\"\n  members = []\n}\n")
		}, []string{`iam: google_project_iam_binding.x: authoritative IAM`}},
		{"GCS service agent grant removed", func(t *testing.T, root string) {
			edit(t, root, "infra/iam.tf", `(?s)resource "google_project_iam_member" "gcs_agent_pubsub" \{.*?\n\}\n`, "")
		}, []string{`iam: Eventarc storage triggers need roles/pubsub.publisher for the GCS service agent`}},
		{"public invoker", func(t *testing.T, root string) {
			edit(t, root, "infra/main.tf", `\{ invoker = google_service_account.invoker.member \}`, `{ invoker = google_service_account.invoker.member, public = "allUsers" }`)
		}, []string{`public: `, `invoke: load: allUsers must not have roles/run.invoker`}},
		{"public by default", func(t *testing.T, root string) {
			edit(t, root, "infra/variables.tf", `(?s)(variable "status_viewers" \{.*?default\s*=\s*)\[\]`, `${1}["allUsers"]`)
		}, []string{`public: infra/variables.tf:`}},
		{"step without invoker", func(t *testing.T, root string) {
			edit(t, root, "infra/main.tf", `tomap\(\{ invoker = google_service_account.invoker.member \}\)`, `tomap({ self = google_service_account.fn[name].member })`)
		}, []string{`invoke: predict: invoker lacks roles/run.invoker`, `invoke: predict: predict must not have roles/run.invoker`}},
		{"module grants more", func(t *testing.T, root string) {
			edit(t, root, "infra/modules/function/main.tf", `(member\s*=\s*)each.value`, `${1}"allAuthenticatedUsers"`)
		}, []string{`invoke: infra/modules/function: google_cloud_run_v2_service_iam_member.invoker.member must be each.value`, `public: `}},
		{"module ignores its entry point", func(t *testing.T, root string) {
			edit(t, root, "infra/modules/function/main.tf", `(entry_point\s*=\s*)var.entry_point`, `${1}var.name`)
		}, []string{`functions: infra/modules/function: google_cloudfunctions2_function.build_config.entry_point is "var.name", want var.entry_point`}},
		{"bucket without public access prevention", func(t *testing.T, root string) {
			edit(t, root, "infra/storage.tf", `\n\s*public_access_prevention\s*=\s*"enforced"`, "")
		}, []string{`buckets: google_storage_bucket.inbox: public_access_prevention must be "enforced"`}},
		{"work bucket keeps files", func(t *testing.T, root string) {
			edit(t, root, "infra/storage.tf", `(?s)(resource "google_storage_bucket" "work" \{.*?)\n  lifecycle_rule \{.*?\n  \}\n`, "$1\n")
		}, []string{`buckets: google_storage_bucket.work (work): needs a lifecycle rule`}},
		{"sweep not scheduled", func(t *testing.T, root string) {
			edit(t, root, "infra/messaging.tf", `(?s)resource "google_cloud_scheduler_job" "sweep" \{.*?\n\}\n`, "")
		}, []string{`scheduler: no Cloud Scheduler job (other than the scheduled runs) calls sweep`}},
		{"spec schedule without a scheduler job", func(t *testing.T, root string) {
			edit(t, root, "infra/messaging.tf", `(?s)resource "google_cloud_scheduler_job" "run" \{.*?\n\}\n`, "")
		}, []string{
			`scheduler: schedule morning of pipeline sales (infra/specs/sales.yaml) has no Cloud Scheduler job calling trigger`,
			`scheduler: schedule weekly of pipeline sales (infra/specs/sales.yaml) has no Cloud Scheduler job calling trigger`,
		}},
		{"new spec schedule without a scheduler job", func(t *testing.T, root string) {
			// The jobs no longer follow the specs one to one.
			edit(t, root, "infra/messaging.tf", `for_each = local.schedules`, `for_each = { for k, v in local.schedules : k => v if v.schedule != "weekly" }`)
		}, []string{`scheduler: schedule weekly of pipeline sales (infra/specs/sales.yaml) has no Cloud Scheduler job calling trigger`}},
		{"scheduled run not targeting trigger", func(t *testing.T, root string) {
			edit(t, root, "infra/messaging.tf", `(?s)(resource "google_cloud_scheduler_job" "run" \{.*?uri\s*=\s*"\$\{local.step_base_url\}/)trigger"`, `${1}sweep"`)
		}, []string{`scheduler: google_cloud_scheduler_job.run[sales/morning]: schedule morning of pipeline sales calls "sweep", want trigger`}},
		{"scheduled run without the invoker's OIDC token", func(t *testing.T, root string) {
			edit(t, root, "infra/messaging.tf", `(?s)(resource "google_cloud_scheduler_job" "run" \{.*?service_account_email\s*=\s*)google_service_account.invoker.email`, `${1}google_service_account.fn["trigger"].email`)
		}, []string{`scheduler: google_cloud_scheduler_job.run[sales/weekly]: OIDC token of "«google_service_account.fn[trigger].email»", want the invoker`}},
		{"scheduled run in the wrong time zone", func(t *testing.T, root string) {
			edit(t, root, "infra/main.tf", `(time_zone\s*=\s*).*`, `${1}"Etc/UTC"`)
		}, []string{`scheduler: google_cloud_scheduler_job.run[sales/morning]: time_zone "Etc/UTC", infra/specs/sales.yaml says "Europe/Berlin"`}},
		{"scheduled run never retried", func(t *testing.T, root string) {
			edit(t, root, "infra/messaging.tf", `retry_count\s*=\s*5`, `retry_count = 0`)
		}, []string{`scheduler: google_cloud_scheduler_job.run[sales/weekly]: schedule weekly of pipeline sales is never retried`}},
		{"scheduled run of a schedule no spec has", func(t *testing.T, root string) {
			edit(t, root, "infra/messaging.tf", `schedule = each.value.schedule \}`, `schedule = "${each.value.schedule}-x" }`)
		}, []string{`scheduler: google_cloud_scheduler_job.run[sales/morning] runs schedule morning-x of pipeline sales, which no uploaded pipeline spec has`}},
		{"spec schedule Terraform would refuse", func(t *testing.T, root string) {
			edit(t, root, "infra/specs/sales.yaml", `cron: "30 2 \* \* 1"`, `cron: "30 2 * *"`)
		}, []string{`scheduler: google_cloud_scheduler_job.run[sales/weekly]: precondition fails: sales.yaml: schedule weekly: cron is five unix-cron fields`}},
		{"two specs with one name", func(t *testing.T, root string) {
			write(t, root, "infra/specs/sales-copy.yaml", fixtureSpecs["sales.yaml"])
		}, []string{
			`refs: google_storage_bucket_object.spec[sales-copy.yaml]: precondition fails: sales-copy.yaml: another spec in specs_dir has the same name`,
			`scheduler: infra/specs/sales.yaml: schedule morning of pipeline sales is also in infra/specs/sales-copy.yaml`,
		}},
		{"optional duration without a unit", func(t *testing.T, root string) {
			edit(t, root, "infra/main.tf", `"\$\{var.sweep_lookback_hours\}h"`, `var.sweep_lookback_hours`)
		}, []string{`env: sweep: DROPCAST_SWEEP_LOOKBACK is "24", not a Go duration`}},
		{"parse error", func(t *testing.T, root string) {
			write(t, root, "infra/broken.tf", "resource \"x\" {\n")
		}, []string{`parse: `}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := fixture(t)
			tc.break_(t, root)
			var got []string
			for _, p := range Check(root, expect) {
				got = append(got, p.String())
			}
			for _, w := range tc.want {
				found := false
				for _, g := range got {
					if strings.Contains(g, w) {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem containing %q; got:\n  %s", w, strings.Join(got, "\n  "))
				}
			}
		})
	}
}

// TestTerraformFmt runs terraform fmt -check over infra/ when terraform is installed.
func TestTerraformFmt(t *testing.T) {
	tf, err := exec.LookPath("terraform")
	if err != nil {
		t.Skip("terraform not on PATH")
	}
	cmd := exec.Command(tf, "fmt", "-check", "-recursive", "-diff", "infra")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("terraform fmt -check -recursive infra: %v\n%s", err, out)
	}
}
