package infratest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"gopkg.in/yaml.v3"
)

// Problem is one disagreement between the infrastructure and the code (or the
// expectations). Area groups problems: parse, code, functions, env, refs,
// iam, invoke, public, queue, scheduler, buckets, secrets, world.
type Problem struct {
	Area string
	Msg  string
}

func (p Problem) String() string { return p.Area + ": " + p.Msg }

func problem(area, format string, args ...any) Problem {
	return Problem{Area: area, Msg: fmt.Sprintf(format, args...)}
}

// Expect is what the checker cannot read from the code. The grants are
// not in it: local.sa_roles in infra/iam.tf is their one table, which the
// IAM resources must apply exactly, and which the calls the e2e suite made
// under enforcement must justify (TestGrantsFollowUse).
type Expect struct {
	// Invoker is the service account whose OIDC token Cloud Tasks and Cloud
	// Scheduler send; the only principal that may invoke the HTTP steps.
	Invoker string
	// People are HTTP functions opened by people (var.status_viewers), not by the invoker.
	People []string
	// Scheduled are HTTP functions that must have a standing Cloud Scheduler
	// job (one that is not a spec schedule's).
	Scheduled []string
	// Trigger is the HTTP function the Cloud Scheduler job of every schedule
	// in the pipeline specs calls, POSTing {"pipeline": P, "schedule": S}.
	Trigger string
	// SecretMounts maps a secret environment variable to the function that must mount it.
	SecretMounts map[string]string
	// World overrides variables (HCL expressions) so that optional parts of
	// the configuration are expanded: feature flags on, sample lists.
	World map[string]string
}

// functionModuleResource is the resource that marks a module as the function
// module; the checker reads each call of that module as one deployed function.
const functionModuleResource = "google_cloudfunctions2_function"

// moduleContract is how the function module must use its variables (nested
// attribute path of the google_cloudfunctions2_function => expression), so
// that the arguments of a module call, which the checker evaluates, are what
// gets deployed.
var moduleContract = map[string]string{
	"name":                     "var.name",
	"project":                  "var.project_id",
	"location":                 "var.region",
	"build_config.entry_point": "var.entry_point",
	"build_config.runtime":     "var.runtime",
	"build_config.source.storage_source.bucket": "var.source_bucket",
	"build_config.source.storage_source.object": "var.source_object",
	"service_config.environment_variables":      "var.environment",
	"service_config.service_account_email":      "var.service_account_email",
	"service_config.timeout_seconds":            "var.timeout_seconds",
	"service_config.max_instance_count":         "var.max_instances",
	"service_config.ingress_settings":           "var.ingress",
}

// deployed is one function as the configuration deploys it.
type deployed struct {
	Name, EntryPoint, Runtime string
	Env, SecretEnv            map[string]string
	Trigger                   cty.Value // null for HTTP
	Invokers                  map[string]string
	SA                        string // service account name the function runs as
	Timeout, MaxInstances     int
	Attrs                     *block
}

// Check reads the code under root (functions/, shared/config/config.go,
// go.mod) and the Terraform under root/infra, and returns every problem found.
func Check(root string, want Expect) []Problem {
	facts, probs := ReadCode(root)
	infra := filepath.Join(root, "infra")
	mods, parseProbs := parseTree(infra)
	probs = append(probs, parseProbs...)
	if len(parseProbs) > 0 {
		return probs
	}
	rootMod := mods[infra]
	if rootMod == nil {
		return append(probs, problem("parse", "no .tf files in %s", infra))
	}
	c := &checker{facts: facts, want: want, mods: mods, root: rootMod, repo: root}
	ev, worldProbs := newEvaluator(rootMod, want.World)
	c.ev = ev
	probs = append(probs, worldProbs...)
	for name, diags := range ev.lerrs {
		probs = append(probs, problem("parse", "local.%s cannot be evaluated: %s", name, diags.Error()))
	}
	c.run()
	probs = append(probs, c.probs...)
	sort.SliceStable(probs, func(i, j int) bool { return probs[i].Area < probs[j].Area })
	return probs
}

type checker struct {
	facts CodeFacts
	want  Expect
	mods  map[string]*module
	root  *module
	repo  string
	ev    *evaluator
	probs []Problem

	fns      map[string]*deployed
	shared   map[string]string // the env values every function agrees on
	saNames  map[string]bool
	grants   map[string]map[string][]string // account => place => roles, as applied
	agents   map[string][]string            // other principals => "place role"
	buckets  map[string]*block              // resource name => bucket
	queues   map[string]*block
	topics   map[string]bool
	secrets  map[string]bool
	sched    []*block
	fnModule *module
	specs    []specFile // the pipeline specs the configuration uploads
}

// specFile is one uploaded pipeline spec: where it comes from and its text.
type specFile struct {
	Label string
	Data  []byte
}

func (c *checker) add(area, format string, args ...any) {
	c.probs = append(c.probs, problem(area, format, args...))
}

func (c *checker) run() {
	c.collectResources()
	c.checkFunctionModule()
	c.collectFunctions()
	c.checkFunctions()
	c.checkEnv()
	c.collectGrants()
	c.checkRoles()
	c.checkInvokers()
	c.checkPublic()
	c.checkQueue()
	c.checkScheduler()
	c.checkBuckets()
	c.checkSecrets()
	c.checkSource()
}

// resources returns every instance of every root resource of type typ, by name.
func (c *checker) resources(typ string) map[string][]*block {
	out := map[string][]*block{}
	for addr, src := range c.root.Resources {
		t, n, _ := strings.Cut(addr, ".")
		if t == typ {
			out[n] = c.ev.expand("resource", addr, src)
		}
	}
	return out
}

func (c *checker) collectResources() {
	c.buckets = map[string]*block{}
	for n, bs := range c.resources("google_storage_bucket") {
		if len(bs) == 1 && bs[0].Key == "" {
			c.buckets[n] = bs[0]
		} else {
			c.add("buckets", "google_storage_bucket.%s: use one resource per bucket, not for_each", n)
		}
	}
	c.queues = map[string]*block{}
	for n, bs := range c.resources("google_cloud_tasks_queue") {
		c.queues[n] = bs[0]
	}
	c.topics = map[string]bool{}
	for n := range c.resources("google_pubsub_topic") {
		c.topics[n] = true
	}
	c.secrets = map[string]bool{}
	for n := range c.resources("google_secret_manager_secret") {
		c.secrets[n] = true
	}
	c.saNames = map[string]bool{}
	for n, bs := range c.resources("google_service_account") {
		for _, b := range bs {
			if b.Key != "" {
				c.saNames[b.Key] = true
			} else {
				c.saNames[n] = true
			}
		}
	}
	for _, bs := range c.resources("google_cloud_scheduler_job") {
		c.sched = append(c.sched, bs...)
	}
	for _, m := range c.mods {
		for addr := range m.Resources {
			if strings.HasPrefix(addr, functionModuleResource+".") && m != c.root {
				c.fnModule = m
			}
		}
	}
}

// saOf maps a placeholder of a google_service_account attribute to the account name.
func (c *checker) saOf(v cty.Value) (string, bool) {
	r, ok := parseRef(v)
	if !ok || r.Type != "google_service_account" {
		return "", false
	}
	if r.Key != "" {
		return r.Key, true
	}
	return r.Name, true
}

// principal names the member of a grant: an account name, or the member text.
func (c *checker) principal(v cty.Value) string {
	if sa, ok := c.saOf(v); ok {
		return sa
	}
	if r, ok := parseRef(v); ok {
		return r.Type + "." + r.Name
	}
	s, _ := str(v)
	return s
}

// checkFunctionModule verifies the function module passes its variables
// straight through, so that the module arguments mean what they say.
func (c *checker) checkFunctionModule() {
	m := c.fnModule
	if m == nil {
		c.add("functions", "no module declares a %s", functionModuleResource)
		return
	}
	var fn *hclsyntax.Block
	for addr, b := range m.Resources {
		t, _, _ := strings.Cut(addr, ".")
		switch {
		case t == functionModuleResource:
			fn = b
		case t == "google_cloud_run_v2_service_iam_member" || t == "google_cloud_run_service_iam_member":
			want := map[string]string{"role": `"roles/run.invoker"`, "member": "each.value", "for_each": "var.invokers"}
			for k, w := range want {
				if a := b.Body.Attributes[k]; a == nil || m.text(a.Expr.Range()) != w {
					c.add("invoke", "%s: %s.%s must be %s", rel(c.repo, m.Dir), addr, k, w)
				}
			}
		case strings.Contains(t, "_iam_"):
			c.add("invoke", "%s: %s: the function module grants nothing but run.invoker to var.invokers", rel(c.repo, m.Dir), addr)
		}
	}
	for path, want := range moduleContract {
		if got := m.text(exprAt(fn.Body, path)); got != want {
			c.add("functions", "%s: %s.%s is %q, want %s", rel(c.repo, m.Dir), functionModuleResource, path, got, want)
		}
	}
	// Dynamic blocks: secrets and the event trigger come from the variables.
	dyn := map[string]string{}
	var walk func(b *hclsyntax.Body)
	walk = func(b *hclsyntax.Body) {
		for _, blk := range b.Blocks {
			if blk.Type == "dynamic" {
				if a := blk.Body.Attributes["for_each"]; a != nil {
					dyn[blk.Labels[0]] = m.text(a.Expr.Range())
				}
			}
			walk(blk.Body)
		}
	}
	walk(fn.Body)
	if !strings.Contains(dyn["secret_environment_variables"], "var.secret_environment") {
		c.add("functions", "%s: secret_environment_variables must be a dynamic block over var.secret_environment", rel(c.repo, m.Dir))
	}
	if !strings.Contains(dyn["event_trigger"], "var.event_trigger") {
		c.add("functions", "%s: event_trigger must be a dynamic block over var.event_trigger", rel(c.repo, m.Dir))
	}
	for _, b := range fn.Body.Blocks {
		if b.Type != "dynamic" || b.Labels[0] != "event_trigger" {
			continue
		}
		for _, content := range b.Body.Blocks {
			if got := m.text(exprAt(content.Body, "service_account_email")); content.Type == "content" && got != "var.service_account_email" {
				c.add("functions", "%s: the event trigger runs as %q, want var.service_account_email (the function's own account)", rel(c.repo, m.Dir), got)
			}
		}
	}
}

// exprAt finds the range of the attribute at a dotted path of nested blocks.
func exprAt(body *hclsyntax.Body, path string) hcl.Range {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		var next *hclsyntax.Body
		for _, b := range body.Blocks {
			if b.Type == p {
				next = b.Body
				break
			}
		}
		if next == nil {
			return hcl.Range{}
		}
		body = next
	}
	if a := body.Attributes[parts[len(parts)-1]]; a != nil {
		return a.Expr.Range()
	}
	return hcl.Range{}
}

func rel(root, path string) string {
	r, err := filepath.Rel(root, path)
	if err != nil {
		return path
	}
	return filepath.ToSlash(r)
}

// collectFunctions expands every module call of the function module.
func (c *checker) collectFunctions() {
	c.fns = map[string]*deployed{}
	for name, src := range c.root.Modules {
		s := src.Body.Attributes["source"]
		if s == nil {
			continue
		}
		v, _ := s.Expr.Value(nil)
		p, ok := str(v)
		if !ok || c.fnModule == nil || filepath.Clean(filepath.Join(c.root.Dir, p)) != c.fnModule.Dir {
			continue
		}
		for _, b := range c.ev.expand("module", name, src) {
			for k, d := range b.Errs {
				c.add("functions", "module.%s[%q].%s cannot be evaluated: %s", name, b.Key, k, d.Error())
			}
			d := &deployed{Attrs: b, Trigger: b.Attrs["event_trigger"]}
			d.Name, _ = str(b.Attrs["name"])
			d.EntryPoint, _ = str(b.Attrs["entry_point"])
			d.Runtime, _ = str(b.Attrs["runtime"])
			var ok bool
			if d.Env, ok = strMap(b.Attrs["environment"]); !ok {
				c.add("env", "%s: environment is not a known map of strings", d.Name)
			}
			if d.SecretEnv, ok = strMap(b.Attrs["secret_environment"]); !ok {
				d.SecretEnv = map[string]string{}
			}
			if d.Invokers, ok = strMap(b.Attrs["invokers"]); !ok {
				d.Invokers = map[string]string{}
			}
			if d.Trigger == cty.NilVal {
				d.Trigger = cty.NullVal(cty.DynamicPseudoType)
			}
			sa, ok := c.saOf(b.Attrs["service_account_email"])
			if !ok {
				c.add("iam", "%s: service_account_email is not a google_service_account of this configuration", d.Name)
			}
			d.SA = sa
			d.Timeout = intOf(b.Attrs["timeout_seconds"])
			d.MaxInstances = intOf(b.Attrs["max_instances"])
			if prev, dup := c.fns[d.Name]; dup && prev != nil {
				c.add("functions", "function %q is deployed twice", d.Name)
			}
			c.fns[d.Name] = d
		}
	}
	for addr := range c.root.Resources {
		if strings.HasPrefix(addr, functionModuleResource+".") {
			c.add("functions", "%s is declared outside the function module; deploy functions with modules/function", addr)
		}
	}
}

func intOf(v cty.Value) int {
	s, ok := str(v)
	if !ok {
		return 0
	}
	n, _ := strconv.Atoi(s)
	return n
}

// MemoryTiers are the memory amounts a Cloud Run function may be given:
// "Available memory and CPU tiers are shown in the following table" —
// 128 MiB to 32 GiB, each with its vCPU
// (https://cloud.google.com/functions/docs/configuring/memory).
var MemoryTiers = []string{"128Mi", "256Mi", "512Mi", "1Gi", "2Gi", "4Gi", "8Gi", "16Gi", "32Gi"}

// goMemoryLimit is what is wrong with limit as the Go runtime's soft memory
// limit of a function given memory (a MemoryTiers value), "" if nothing:
// it must be set, in the runtime's syntax ("a numeric value in bytes with an
// optional unit suffix. The supported suffixes include B, KiB, MiB, GiB, and
// TiB", https://pkg.go.dev/runtime), and between 80% and 95% of the memory,
// so that the runtime collects before the instance is killed and something
// is left for what the limit does not count.
func goMemoryLimit(limit, memory string) string {
	if limit == "" {
		return "is not set: set it to 90% of the function's memory (local.go_memory_limit)"
	}
	units := []struct {
		suffix string
		bytes  int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}, {"", 1}}
	var n int64 = -1
	for _, u := range units {
		if digits, ok := strings.CutSuffix(limit, u.suffix); ok {
			v, err := strconv.ParseInt(digits, 10, 64)
			if err != nil || v <= 0 {
				return "is not a number of bytes with a B, KiB, MiB, GiB or TiB suffix"
			}
			n = v * u.bytes
			break
		}
	}
	size, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSuffix(memory, "Mi"), "Gi"), 10, 64)
	if strings.HasSuffix(memory, "Gi") {
		size <<= 30
	} else {
		size <<= 20
	}
	if n < size*80/100 || n > size*95/100 {
		return fmt.Sprintf("is %.0f%% of the function's memory %s, want 80-95%%", 100*float64(n)/float64(size), memory)
	}
	return ""
}

func (c *checker) checkFunctions() {
	for _, name := range sortedKeys(c.facts.Functions) {
		f := c.facts.Functions[name]
		if pkg := c.facts.Module + "/" + f.Dir; c.facts.Module != "" && !c.facts.RootImports[pkg] {
			c.add("functions", "%s: the root package does not import %s, so the deployed build cannot find entry point %s", name, pkg, name)
		}
		d := c.fns[name]
		if d == nil {
			c.add("functions", "%s (registered at %s) is not deployed: add it to local.functions in infra/main.tf, its roles to local.sa_roles in infra/iam.tf and to the table in infra/infratest", name, f.Pos)
			continue
		}
		if d.EntryPoint != name {
			c.add("functions", "%s: entry point is %q, want %q", name, d.EntryPoint, name)
		}
		hasTrigger := !d.Trigger.IsNull()
		if f.Kind == CloudEvent && !hasTrigger {
			c.add("functions", "%s is a CloudEvent function (%s) but is deployed without an event trigger", name, f.Pos)
		}
		if f.Kind == HTTP && hasTrigger {
			c.add("functions", "%s is an HTTP function (%s) but is deployed with an event trigger", name, f.Pos)
		}
		if hasTrigger && d.Timeout > 540 {
			c.add("functions", "%s: event-driven functions time out after at most 540 s, not %d", name, d.Timeout)
		}
		if !hasTrigger && (d.Timeout < 1 || d.Timeout > 3600) {
			c.add("functions", "%s: HTTP timeout %d s is outside 1..3600", name, d.Timeout)
		}
		m, _ := str(d.Attrs.Attrs["memory"])
		if !slices.Contains(MemoryTiers, m) {
			c.add("functions", "%s: memory %q is not a Cloud Run functions memory tier %v", name, m, MemoryTiers)
		} else if why := goMemoryLimit(d.Env["GOMEMLIMIT"], m); why != "" {
			c.add("functions", "%s: GOMEMLIMIT %q %s", name, d.Env["GOMEMLIMIT"], why)
		}
		if v := c.facts.GoVersion; v != "" {
			parts := strings.Split(v, ".")
			if len(parts) >= 2 && c.resolve(d.Runtime) != "go"+parts[0]+parts[1] {
				c.add("functions", "%s: runtime %q does not match go %s in go.mod", name, d.Runtime, v)
			}
		}
	}
	for _, name := range sortedKeys(c.fns) {
		if _, ok := c.facts.Functions[name]; !ok {
			c.add("functions", "%s is deployed but no code under functions/ registers it", name)
		}
	}
	seen := map[string]string{}
	for _, name := range sortedKeys(c.fns) {
		d := c.fns[name]
		if other, dup := seen[d.SA]; dup && d.SA != "" {
			c.add("iam", "%s and %s share service account %s: one account per function", other, name, d.SA)
		}
		seen[d.SA] = name
		if d.SA != "" && d.SA != name {
			c.add("iam", "%s runs as service account %s, want its own (%s)", name, d.SA, name)
		}
	}
}

// resolve replaces a variable placeholder by the variable's default.
func (c *checker) resolve(s string) string {
	r, ok := parseRef(cty.StringVal(s))
	if !ok || r.Type != "var" {
		return s
	}
	if b := c.root.Variables[r.Name]; b != nil {
		if a := b.Body.Attributes["default"]; a != nil {
			if v, diags := a.Expr.Value(nil); !diags.HasErrors() {
				if d, ok := str(v); ok {
					return d
				}
			}
		}
	}
	return s
}

// ph renders a placeholder for messages and comparisons.
func ph(addr string) string { return "«" + addr + "»" }

func (c *checker) checkEnv() {
	required := []string{}
	for _, n := range sortedKeys(c.facts.Vars) {
		if c.facts.Vars[n].Required {
			required = append(required, n)
		}
	}
	c.shared = map[string]string{}
	for _, name := range sortedKeys(c.fns) {
		d := c.fns[name]
		for _, v := range required {
			if _, ok := d.Env[v]; !ok {
				c.add("env", "%s: required %s (shared/config) is not set", name, v)
			}
		}
		for _, k := range sortedKeys(d.Env) {
			if k == "GOMEMLIMIT" {
				continue // the Go runtime's, checked with the memory
			}
			cv, known := c.facts.Vars[k]
			switch {
			case !known:
				c.add("env", "%s: sets %s, which shared/config does not read", name, k)
			case cv.Secret:
				c.add("secrets", "%s: secret %s is a plain environment variable; mount it from Secret Manager", name, k)
			case strings.HasSuffix(k, "_ENDPOINT"):
				c.add("env", "%s: emulator endpoint %s must not be set in production", name, k)
			default:
				if why := badValue(cv.Type, d.Env[k]); why != "" {
					c.add("env", "%s: %s is %q, %s: shared/config would refuse to start", name, k, d.Env[k], why)
				}
			}
			if k == "DROPCAST_STEP_TIMEOUT" {
				continue
			}
			if prev, ok := c.shared[k]; ok && prev != d.Env[k] {
				c.add("env", "%s: %s is %q, other functions have %q", name, k, d.Env[k], prev)
			}
			c.shared[k] = d.Env[k]
		}
		for _, k := range sortedKeys(d.SecretEnv) {
			if cv, ok := c.facts.Vars[k]; !ok || !cv.Secret {
				c.add("secrets", "%s: %s is mounted from Secret Manager but shared/config does not read it as a secret", name, k)
			}
			if r, ok := parseRef(cty.StringVal(d.SecretEnv[k])); !ok || r.Type != "google_secret_manager_secret" {
				c.add("secrets", "%s: %s must name a google_secret_manager_secret of this configuration, not %q", name, k, d.SecretEnv[k])
			}
		}
		// Step timeout: the function's own.
		if got, want := d.Env["DROPCAST_STEP_TIMEOUT"], fmt.Sprintf("%ds", d.Timeout); got != want {
			c.add("env", "%s: DROPCAST_STEP_TIMEOUT is %q, the function's timeout is %s", name, got, want)
		}
	}
	for _, v := range sortedKeys(c.want.SecretMounts) {
		fn := c.want.SecretMounts[v]
		if d := c.fns[fn]; d != nil {
			if _, ok := d.SecretEnv[v]; !ok {
				c.add("secrets", "%s must mount %s from Secret Manager (secret_environment_variables)", fn, v)
			}
		}
	}

	env := c.shared
	want := map[string]string{
		"DROPCAST_PROJECT":       ph("var.project_id"),
		"DROPCAST_REGION":        ph("var.region"),
		"DROPCAST_STEP_BASE_URL": "https://" + ph("var.region") + "-" + ph("var.project_id") + ".cloudfunctions.net",
	}
	for _, k := range sortedKeys(want) {
		if got, ok := env[k]; ok && got != want[k] {
			c.add("refs", "%s is %q, want %q", k, got, want[k])
		}
	}
	for _, name := range sortedKeys(c.fns) {
		d := c.fns[name]
		for arg, w := range map[string]string{"project_id": ph("var.project_id"), "region": ph("var.region")} {
			if got, _ := str(d.Attrs.Attrs[arg]); got != w {
				c.add("refs", "%s: %s is %q, want %q (the step URL is DROPCAST_STEP_BASE_URL/NAME)", name, arg, got, w)
			}
		}
	}
	// Buckets.
	bucketRes := map[string]string{}
	for _, k := range []string{"DROPCAST_INBOX_BUCKET", "DROPCAST_STATE_BUCKET", "DROPCAST_WORK_BUCKET", "DROPCAST_RESULTS_BUCKET"} {
		v, ok := env[k]
		if !ok {
			continue
		}
		r, isRef := parseRef(cty.StringVal(v))
		if !isRef || r.Type != "google_storage_bucket" || r.Attr != "name" || c.buckets[r.Name] == nil {
			c.add("refs", "%s is %q, want the name of a google_storage_bucket of this configuration", k, v)
			continue
		}
		if other, dup := bucketRes[r.Name]; dup {
			c.add("refs", "%s and %s are the same bucket %s", other, k, r.Name)
		}
		bucketRes[r.Name] = k
	}
	// Specs: gs://STATE/PREFIX/ and something uploads there.
	if specs, ok := env["DROPCAST_SPECS"]; ok {
		state := env["DROPCAST_STATE_BUCKET"]
		prefix, found := strings.CutPrefix(specs, "gs://"+state+"/")
		if !found || !strings.HasSuffix(specs, "/") {
			c.add("refs", "DROPCAST_SPECS is %q, want gs://<state bucket>/PREFIX/", specs)
		} else {
			c.collectSpecs(state, prefix, specs)
		}
	}
	// Queue.
	if q, ok := env["DROPCAST_TASKS_QUEUE"]; ok {
		name := ""
		if r, isRef := parseRef(cty.StringVal(q)); isRef && r.Type == "google_cloud_tasks_queue" && r.Attr == "id" {
			name = r.Name
		} else if rest, ok := strings.CutPrefix(q, "projects/"+ph("var.project_id")+"/locations/"+ph("var.region")+"/queues/"); ok {
			if r, isRef := parseRef(cty.StringVal(rest)); isRef && r.Type == "google_cloud_tasks_queue" && r.Attr == "name" {
				name = r.Name
			}
		}
		if c.queues[name] == nil {
			c.add("refs", "DROPCAST_TASKS_QUEUE is %q, want projects/PROJECT/locations/REGION/queues/ + a google_cloud_tasks_queue of this configuration", q)
		} else if loc, _ := str(c.queues[name].Attrs["location"]); loc != ph("var.region") {
			c.add("refs", "google_cloud_tasks_queue.%s: location is %q, DROPCAST_TASKS_QUEUE says var.region", name, loc)
		}
	}
	// Topic.
	if t, ok := env["DROPCAST_EVENTS_TOPIC"]; ok {
		r, isRef := parseRef(cty.StringVal(t))
		if !isRef || r.Type != "google_pubsub_topic" || r.Attr != "name" || !c.topics[r.Name] {
			c.add("refs", "DROPCAST_EVENTS_TOPIC is %q, want the name (topic ID) of a google_pubsub_topic of this configuration", t)
		}
	}
	// Invoker.
	if v, ok := env["DROPCAST_INVOKER_SA"]; ok {
		if sa, isSA := c.saOf(cty.StringVal(v)); !isSA || sa != c.want.Invoker || !strings.HasSuffix(v, ".email»") {
			c.add("refs", "DROPCAST_INVOKER_SA is %q, want the email of google_service_account.%s", v, c.want.Invoker)
		}
	} else if c.want.Invoker != "" {
		c.add("env", "DROPCAST_INVOKER_SA is not set: Cloud Tasks would call the steps without an OIDC token")
	}
	// Status URL: a deployed HTTP function.
	if v, ok := env["DROPCAST_STATUS_URL"]; ok {
		fn, found := strings.CutPrefix(v, env["DROPCAST_STEP_BASE_URL"]+"/")
		if d := c.fns[fn]; !found || d == nil || !d.Trigger.IsNull() {
			c.add("refs", "DROPCAST_STATUS_URL is %q, want DROPCAST_STEP_BASE_URL/<an HTTP function>", v)
		}
	}
	// Durations.
	deadline, err := time.ParseDuration(env["DROPCAST_DISPATCH_DEADLINE"])
	if _, set := env["DROPCAST_DISPATCH_DEADLINE"]; set {
		if err != nil || deadline < 15*time.Second || deadline > 30*time.Minute {
			c.add("queue", "DROPCAST_DISPATCH_DEADLINE %q: Cloud Tasks allows 15s to 30m", env["DROPCAST_DISPATCH_DEADLINE"])
		}
		for _, name := range sortedKeys(c.fns) {
			d := c.fns[name]
			if d.Trigger.IsNull() && !slices.Contains(c.want.People, name) && time.Duration(d.Timeout)*time.Second != deadline {
				c.add("queue", "%s: timeout %d s differs from DROPCAST_DISPATCH_DEADLINE %s: the step budget is their minimum", name, d.Timeout, deadline)
			}
		}
		if m, err := time.ParseDuration(env["DROPCAST_SAFETY_MARGIN"]); err == nil && m >= deadline {
			c.add("queue", "DROPCAST_SAFETY_MARGIN %s leaves no budget within DROPCAST_DISPATCH_DEADLINE %s", m, deadline)
		}
	}
	// Event triggers.
	for _, name := range sortedKeys(c.fns) {
		d := c.fns[name]
		if d.Trigger.IsNull() || !d.Trigger.IsKnown() || !d.Trigger.Type().IsObjectType() {
			continue
		}
		et, _ := str(getAttr(d.Trigger, "event_type"))
		switch et {
		case "google.cloud.storage.object.v1.finalized":
			filters, _ := strMap(getAttr(d.Trigger, "filters"))
			r, ok := parseRef(cty.StringVal(filters["bucket"]))
			if !ok || r.Type != "google_storage_bucket" || c.buckets[r.Name] == nil {
				c.add("refs", "%s: storage trigger must filter on bucket = a google_storage_bucket of this configuration, not %q", name, filters["bucket"])
			} else if inbox, set := env["DROPCAST_INBOX_BUCKET"]; set && filters["bucket"] != inbox {
				c.add("refs", "%s: storage trigger watches %q, DROPCAST_INBOX_BUCKET is %q", name, filters["bucket"], inbox)
			} else if k := bucketRes[r.Name]; k != "" && k != "DROPCAST_INBOX_BUCKET" {
				c.add("refs", "%s: the inbox bucket must not be the %s bucket (%s)", name, k, r.Name)
			}
		case "google.cloud.pubsub.topic.v1.messagePublished":
			topic, _ := str(getAttr(d.Trigger, "pubsub_topic"))
			r, ok := parseRef(cty.StringVal(topic))
			events := env["DROPCAST_EVENTS_TOPIC"]
			er, _ := parseRef(cty.StringVal(events))
			if !ok || r.Type != "google_pubsub_topic" || r.Attr != "id" || r.Name != er.Name {
				c.add("refs", "%s: Pub/Sub trigger must use the events topic's id (google_pubsub_topic.%s.id), not %q", name, er.Name, topic)
			}
		default:
			c.add("functions", "%s: unexpected event type %q", name, et)
		}
	}
}

// badValue says why a known value cannot be parsed as the Go type shared/config
// reads it into ("" when it can, or when it is not known before apply).
func badValue(typ, v string) string {
	if strings.Contains(v, "«") {
		return ""
	}
	switch typ {
	case "time.Duration":
		if _, err := time.ParseDuration(v); err != nil {
			return "not a Go duration such as 90s or 24h"
		}
	case "int":
		if _, err := strconv.Atoi(v); err != nil {
			return "not an integer"
		}
	}
	return ""
}

func getAttr(v cty.Value, name string) cty.Value {
	if v.IsNull() || !v.IsKnown() || !v.Type().IsObjectType() || !v.Type().HasAttribute(name) {
		return cty.NilVal
	}
	return v.GetAttr(name)
}

// IAM resource types in the root module and the attribute naming what they grant on.
var iamTargets = map[string]string{
	"google_project_iam_member":               "project",
	"google_storage_bucket_iam_member":        "bucket",
	"google_bigquery_dataset_iam_member":      "dataset_id",
	"google_cloud_tasks_queue_iam_member":     "name",
	"google_service_account_iam_member":       "service_account_id",
	"google_pubsub_topic_iam_member":          "topic",
	"google_secret_manager_secret_iam_member": "secret_id",
}

// collectGrants expands every IAM resource of the root module into grants.
func (c *checker) collectGrants() {
	c.grants = map[string]map[string][]string{}
	c.agents = map[string][]string{}
	for _, addr := range sortedKeys(c.root.Resources) {
		typ, _, _ := strings.Cut(addr, ".")
		if !strings.Contains(typ, "_iam_") {
			continue
		}
		if strings.HasSuffix(typ, "_iam_binding") || strings.HasSuffix(typ, "_iam_policy") {
			c.add("iam", "%s: authoritative IAM (bindings, policies) would remove grants made elsewhere; use _iam_member", addr)
			continue
		}
		targetAttr, known := iamTargets[typ]
		if !known {
			c.add("iam", "%s: %s grants nothing this configuration expects (run.invoker belongs in the function module's invokers)", addr, typ)
			continue
		}
		for _, b := range c.ev.expand("resource", addr, c.root.Resources[addr]) {
			for k, d := range b.Errs {
				c.add("iam", "%s[%q].%s cannot be evaluated: %s", addr, b.Key, k, d.Error())
			}
			role, _ := str(b.Attrs["role"])
			place := c.place(typ, b.Attrs[targetAttr])
			who := c.principal(b.Attrs["member"])
			if c.saNames[who] {
				if c.grants[who] == nil {
					c.grants[who] = map[string][]string{}
				}
				c.grants[who][place] = append(c.grants[who][place], role)
			} else {
				c.agents[who] = append(c.agents[who], place+" "+role)
			}
		}
	}
}

// place names where a grant applies, in the words of local.sa_roles.
func (c *checker) place(typ string, target cty.Value) string {
	r, isRef := parseRef(target)
	switch typ {
	case "google_project_iam_member":
		if s, _ := str(target); s == ph("var.project_id") {
			return "project"
		}
	case "google_bigquery_dataset_iam_member":
		if isRef && r.Type == "google_bigquery_dataset" {
			return "dataset"
		}
	case "google_cloud_tasks_queue_iam_member":
		if isRef && r.Type == "google_cloud_tasks_queue" {
			if q := c.shared["DROPCAST_TASKS_QUEUE"]; strings.Contains(q, "google_cloud_tasks_queue."+r.Name+".") {
				return "queue"
			}
		}
	case "google_pubsub_topic_iam_member":
		if isRef && r.Type == "google_pubsub_topic" {
			if t := c.shared["DROPCAST_EVENTS_TOPIC"]; strings.Contains(t, "google_pubsub_topic."+r.Name+".") {
				return "events"
			}
		}
	case "google_service_account_iam_member":
		if sa, ok := c.saOf(target); ok {
			return sa
		}
	case "google_storage_bucket_iam_member":
		if isRef && r.Type == "google_storage_bucket" {
			return r.Name
		}
	case "google_secret_manager_secret_iam_member":
		if isRef && r.Type == "google_secret_manager_secret" {
			return r.Name
		}
	}
	s, _ := str(target)
	return typ + "(" + s + ")"
}

func (c *checker) checkRoles() {
	// The table in infra/iam.tf is the table of grants.
	want := map[string]map[string][]string{}
	if v, ok := c.ev.locals["sa_roles"]; !ok {
		c.add("iam", "local.sa_roles (account => place => roles) is missing from infra/")
	} else {
		got := want
		for it := v.ElementIterator(); it.Next(); {
			k, places := it.Element()
			got[k.AsString()] = map[string][]string{}
			for pit := places.ElementIterator(); pit.Next(); {
				pk, roles := pit.Element()
				var rs []string
				for rit := roles.ElementIterator(); rit.Next(); {
					_, r := rit.Element()
					s, _ := str(r)
					rs = append(rs, s)
				}
				got[k.AsString()][pk.AsString()] = rs
			}
		}
	}
	// What the IAM resources grant, with AutoML grants counted on the project.
	applied := map[string]map[string][]string{}
	for sa, places := range want {
		applied[sa] = map[string][]string{}
		for place, roles := range places {
			if place == "automl" {
				place = "project"
			}
			applied[sa][place] = append(applied[sa][place], roles...)
		}
	}
	got := map[string]map[string][]string{}
	for sa := range c.saNames {
		got[sa] = c.grants[sa]
	}
	c.compareRoles("applied", got, applied)

	// Service agents: only the GCS agent, and only for a storage trigger.
	for _, who := range sortedKeys(c.agents) {
		for _, g := range c.agents[who] {
			if strings.HasPrefix(who, gcsAgent) && g == "project roles/pubsub.publisher" {
				continue
			}
			c.add("iam", "unexpected grant to %s: %s", who, g)
		}
	}
	storageTrigger := false
	for _, d := range c.fns {
		if et, _ := str(getAttr(d.Trigger, "event_type")); strings.HasPrefix(et, "google.cloud.storage.") {
			storageTrigger = true
		}
	}
	agentOK := false
	for who, gs := range c.agents {
		if strings.HasPrefix(who, gcsAgent) && slices.Contains(gs, "project roles/pubsub.publisher") {
			agentOK = true
		}
	}
	if storageTrigger && !agentOK {
		c.add("iam", "Eventarc storage triggers need roles/pubsub.publisher for the GCS service agent (data.google_storage_project_service_account)")
	}
}

// gcsAgent is the data source naming the project's Cloud Storage service agent.
const gcsAgent = "data.google_storage_project_service_account."

func (c *checker) compareRoles(what string, got, want map[string]map[string][]string) {
	for _, sa := range union(sortedKeys(got), sortedKeys(want)) {
		g, inGot := got[sa]
		w, inWant := want[sa]
		if !inWant {
			c.add("iam", "%s: service account %s is not in local.sa_roles", what, sa)
			continue
		}
		if !inGot {
			c.add("iam", "%s: service account %s is expected but not created", what, sa)
			continue
		}
		for _, place := range union(sortedKeys(g), sortedKeys(w)) {
			for _, r := range missing(w[place], g[place]) {
				c.add("iam", "%s: %s lacks %s on %s", what, sa, r, place)
			}
			for _, r := range missing(g[place], w[place]) {
				c.add("iam", "%s: %s has unexpected %s on %s", what, sa, r, place)
			}
		}
	}
}

func (c *checker) checkInvokers() {
	invoker := ""
	if c.saNames[c.want.Invoker] {
		invoker = c.want.Invoker
	} else {
		c.add("invoke", "no google_service_account %q (the invoker)", c.want.Invoker)
	}
	viewers := map[string]bool{}
	if v, ok := c.ev.vars["status_viewers"]; ok && v.IsWhollyKnown() && v.CanIterateElements() {
		for it := v.ElementIterator(); it.Next(); {
			_, m := it.Element()
			s, _ := str(m)
			viewers[s] = true
		}
	}
	for _, name := range sortedKeys(c.fns) {
		d := c.fns[name]
		var want []string
		switch {
		case !d.Trigger.IsNull():
			want = []string{d.SA} // Eventarc calls with the trigger's identity: the function's own
		case slices.Contains(c.want.People, name):
			want = sortedKeys(viewers)
		default:
			want = []string{invoker}
		}
		var got []string
		for _, label := range sortedKeys(d.Invokers) {
			got = append(got, c.principal(cty.StringVal(d.Invokers[label])))
		}
		for _, p := range missing(want, got) {
			c.add("invoke", "%s: %s lacks roles/run.invoker", name, p)
		}
		for _, p := range missing(got, want) {
			c.add("invoke", "%s: %s must not have roles/run.invoker", name, p)
		}
	}
}

// checkPublic looks for allUsers and allAuthenticatedUsers in every string
// of every file (variable validations excepted) and every evaluated member.
func (c *checker) checkPublic() {
	for _, m := range c.mods {
		for _, body := range m.bodies {
			for _, b := range body.Blocks {
				var nodes []hclsyntax.Node = []hclsyntax.Node{b.Body}
				if b.Type == "variable" { // its validations may name them; its default may not
					nodes = nil
					for _, a := range b.Body.Attributes {
						nodes = append(nodes, a)
					}
				}
				for _, node := range nodes {
					hclsyntax.VisitAll(node, func(n hclsyntax.Node) hcl.Diagnostics {
						if t, ok := n.(*hclsyntax.TemplateExpr); ok {
							for _, p := range t.Parts {
								if l, ok := p.(*hclsyntax.LiteralValueExpr); ok && l.Val.Type() == cty.String {
									s := l.Val.AsString()
									if strings.Contains(s, "allUsers") || strings.Contains(s, "allAuthenticatedUsers") {
										c.add("public", "%s:%d: %q: nothing is public", rel(c.repo, l.SrcRange.Filename), l.SrcRange.Start.Line, s)
									}
								}
							}
						}
						return nil
					})
				}
			}
		}
	}
	for _, name := range sortedKeys(c.fns) {
		for _, m := range c.fns[name].Invokers {
			if m == "allUsers" || m == "allAuthenticatedUsers" {
				c.add("public", "%s: invoker %s: nothing is public", name, m)
			}
		}
	}
}

func (c *checker) checkQueue() {
	q := c.shared["DROPCAST_TASKS_QUEUE"]
	for _, name := range sortedKeys(c.queues) {
		b := c.queues[name]
		if !strings.Contains(q, "google_cloud_tasks_queue."+name+".") {
			continue
		}
		rc := b.child("retry_config")
		if rc == nil {
			c.add("queue", "google_cloud_tasks_queue.%s has no retry_config: max_attempts must match DROPCAST_MAX_ATTEMPTS", name)
			continue
		}
		got, _ := str(rc.Attrs["max_attempts"])
		if want := c.shared["DROPCAST_MAX_ATTEMPTS"]; got != want {
			c.add("queue", "google_cloud_tasks_queue.%s: max_attempts %q differs from DROPCAST_MAX_ATTEMPTS %q", name, got, want)
		}
		if d, ok := rc.Attrs["max_retry_duration"]; ok {
			if s, _ := str(d); s != "0s" {
				c.add("queue", "google_cloud_tasks_queue.%s: max_retry_duration %q can end retries before max_attempts; use \"0s\"", name, s)
			}
		}
		if rl := b.child("rate_limits"); rl != nil {
			conc := intOf(rl.Attrs["max_concurrent_dispatches"])
			for _, fn := range sortedKeys(c.fns) {
				d := c.fns[fn]
				if d.Trigger.IsNull() && !slices.Contains(c.want.People, fn) && conc > d.MaxInstances {
					c.add("queue", "google_cloud_tasks_queue.%s: max_concurrent_dispatches %d exceeds %s's max instances %d (429s cost attempts)", name, conc, fn, d.MaxInstances)
				}
			}
		}
	}
}

func (c *checker) checkScheduler() {
	base := c.shared["DROPCAST_STEP_BASE_URL"]
	invokerEmail := c.shared["DROPCAST_INVOKER_SA"]
	want := c.specSchedules()
	trigger := c.want.Trigger
	jobs := map[string]string{} // "PIPELINE/SCHEDULE" => job
	targets := map[string]bool{}
	for _, b := range c.sched {
		id := "google_cloud_scheduler_job." + b.Labels[1]
		if b.Key != "" {
			id += "[" + b.Key + "]"
		}
		for k, d := range b.Errs {
			c.add("scheduler", "%s.%s cannot be evaluated: %s", id, k, d.Error())
		}
		c.checkPreconditions("scheduler", id, b)
		ht := b.child("http_target")
		if ht == nil {
			c.add("scheduler", "%s has no http_target", id)
			continue
		}
		uri, _ := str(ht.Attrs["uri"])
		fn, ok := strings.CutPrefix(uri, base+"/")
		d := c.fns[fn]
		if !ok || d == nil || !d.Trigger.IsNull() || slices.Contains(c.want.People, fn) {
			c.add("scheduler", "%s: uri %q is not DROPCAST_STEP_BASE_URL/<a step function>", id, uri)
		}
		if oidc := ht.child("oidc_token"); oidc == nil {
			c.add("scheduler", "%s: calls without an OIDC token", id)
		} else {
			if sa, _ := str(oidc.Attrs["service_account_email"]); sa != invokerEmail {
				c.add("scheduler", "%s: OIDC token of %q, want the invoker %q", id, sa, invokerEmail)
			}
			if aud, ok := oidc.Attrs["audience"]; ok {
				if s, _ := str(aud); s != uri {
					c.add("scheduler", "%s: OIDC audience %q differs from the uri", id, s)
				}
			}
		}
		if v, set := b.Attrs["attempt_deadline"]; set {
			s, _ := str(v)
			if dl, err := time.ParseDuration(s); err != nil || dl < 15*time.Second || dl > 30*time.Minute {
				c.add("scheduler", "%s: attempt_deadline %q: Cloud Scheduler allows 15s to 30m for HTTP targets", id, s)
			}
		}
		run, isRun := scheduledRun(ht)
		if !isRun {
			if fn == trigger && trigger != "" {
				c.add("scheduler", "%s calls %s without {\"pipeline\": P, \"schedule\": S} in its body", id, fn)
			}
			targets[fn] = true // a standing job
			continue
		}
		key := run.Pipeline + "/" + run.Schedule
		what := fmt.Sprintf("schedule %s of pipeline %s", run.Schedule, run.Pipeline)
		if fn != trigger {
			c.add("scheduler", "%s: %s calls %q, want %s (the function that starts scheduled runs)", id, what, fn, trigger)
		}
		if m, _ := str(ht.Attrs["http_method"]); m != "POST" {
			c.add("scheduler", "%s: http_method %q, want POST (the trigger reads the JSON body)", id, m)
		}
		if prev, dup := jobs[key]; dup {
			c.add("scheduler", "%s and %s both run %s", prev, id, what)
		}
		jobs[key] = id
		rc := b.child("retry_config")
		if rc == nil || intOf(rc.Attrs["retry_count"]) < 1 {
			c.add("scheduler", "%s: %s is never retried: a failed trigger misses the run and nothing else starts it (retries are safe: the trigger is idempotent per scheduled time)", id, what)
		}
		sc, ok := want[key]
		if !ok {
			c.add("scheduler", "%s runs %s, which no uploaded pipeline spec has (the trigger would answer 404)", id, what)
			continue
		}
		if got, _ := str(b.Attrs["schedule"]); strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(sc.Cron), " ") {
			c.add("scheduler", "%s: schedule %q, %s says cron %q", id, got, sc.File, sc.Cron)
		}
		wantTZ := sc.TimeZone
		if wantTZ == "" {
			wantTZ = "Etc/UTC" // the code's default
		}
		if got, _ := str(b.Attrs["time_zone"]); got != wantTZ && !(isUTC(got) && isUTC(wantTZ)) {
			c.add("scheduler", "%s: time_zone %q, %s says %q (the run's date is taken in that zone)", id, got, sc.File, wantTZ)
		}
	}
	for _, key := range sortedKeys(want) {
		if _, ok := jobs[key]; !ok {
			sc := want[key]
			c.add("scheduler", "schedule %s of pipeline %s (%s) has no Cloud Scheduler job calling %s", sc.Name, sc.Pipeline, sc.File, trigger)
		}
	}
	if _, coded := c.facts.Functions[trigger]; len(want) > 0 && !coded {
		c.add("scheduler", "the pipeline specs have schedules but no code under functions/ registers %q to start them", trigger)
	}
	for _, fn := range c.want.Scheduled {
		if _, coded := c.facts.Functions[fn]; coded && !targets[fn] {
			c.add("scheduler", "no Cloud Scheduler job (other than the scheduled runs) calls %s", fn)
		}
	}
}

// checkPreconditions reports the lifecycle preconditions of an evaluated
// instance that are false (the plan would stop there) or cannot be evaluated.
func (c *checker) checkPreconditions(area, id string, b *block) {
	for _, lc := range b.children("lifecycle") {
		for _, pc := range lc.children("precondition") {
			cond, ok := pc.Attrs["condition"]
			if d := pc.Errs["condition"]; d.HasErrors() {
				c.add(area, "%s: precondition cannot be evaluated: %s", id, d.Error())
				continue
			}
			if ok && cond.IsKnown() && !cond.IsNull() && cond.Type() == cty.Bool && cond.False() {
				msg, _ := str(pc.Attrs["error_message"])
				c.add(area, "%s: precondition fails: %s", id, msg)
			}
		}
	}
}

func isUTC(tz string) bool { return tz == "UTC" || tz == "Etc/UTC" }

// scheduledRun reads the body of a Cloud Scheduler http_target as a trigger
// request; ok is false when it names neither a pipeline nor a schedule.
func scheduledRun(ht *block) (run struct{ Pipeline, Schedule string }, ok bool) {
	body, known := str(ht.Attrs["body"])
	if !known {
		return run, false
	}
	raw, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return run, false
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return run, false
	}
	_, hasP := m["pipeline"]
	_, hasS := m["schedule"]
	run.Pipeline, _ = m["pipeline"].(string)
	run.Schedule, _ = m["schedule"].(string)
	return run, hasP || hasS
}

// specSchedule is one schedule of an uploaded pipeline spec.
type specSchedule struct{ File, Pipeline, Name, Cron, TimeZone string }

// collectSpecs finds the objects uploaded under gs://STATE/PREFIX/ and reads
// the files they come from. A for_each over no files still counts as the
// upload (the repository may hold no specs yet).
func (c *checker) collectSpecs(state, prefix, specs string) {
	uploaded := false
	for _, addr := range sortedKeys(c.root.Resources) {
		if !strings.HasPrefix(addr, "google_storage_bucket_object.") {
			continue
		}
		for _, b := range c.ev.expandOrSample("resource", addr, c.root.Resources[addr]) {
			bkt, _ := str(b.Attrs["bucket"])
			obj, _ := str(b.Attrs["name"])
			if bkt != state || !strings.HasPrefix(obj, prefix) || b.Key == "" {
				continue
			}
			uploaded = true
			if b.Key == sampleKey {
				continue
			}
			label := addr + "[" + b.Key + "]"
			c.checkPreconditions("refs", label, b)
			if content, ok := str(b.Attrs["content"]); ok && !strings.Contains(content, "«") {
				c.specs = append(c.specs, specFile{Label: label, Data: []byte(content)})
				continue
			}
			src, _ := str(b.Attrs["source"])
			p, err := c.ev.resolvePath(src)
			if err == nil {
				var data []byte
				if data, err = os.ReadFile(p); err == nil {
					c.specs = append(c.specs, specFile{Label: rel(c.repo, p), Data: data})
					continue
				}
			}
			c.add("refs", "%s: cannot read the spec it uploads (source %q): %v", label, src, err)
		}
	}
	if !uploaded {
		c.add("refs", "no google_storage_bucket_object (for_each over the spec files) uploads pipeline specs under %s", specs)
	}
}

// specSchedules reads the schedules of every uploaded spec, as the trigger
// function will: by the spec's name and the schedule's name.
func (c *checker) specSchedules() map[string]specSchedule {
	out := map[string]specSchedule{}
	for _, f := range c.specs {
		var doc struct {
			Name      string `yaml:"name"`
			Schedules []struct {
				Name     string `yaml:"name"`
				Cron     string `yaml:"cron"`
				TimeZone string `yaml:"time_zone"`
			} `yaml:"schedules"`
		}
		if err := yaml.Unmarshal(f.Data, &doc); err != nil {
			c.add("scheduler", "%s: %v", f.Label, err)
			continue
		}
		for _, s := range doc.Schedules {
			key := doc.Name + "/" + s.Name
			if prev, dup := out[key]; dup {
				c.add("scheduler", "%s: schedule %s of pipeline %s is also in %s", f.Label, s.Name, doc.Name, prev.File)
			}
			out[key] = specSchedule{File: f.Label, Pipeline: doc.Name, Name: s.Name, Cron: s.Cron, TimeZone: s.TimeZone}
		}
	}
	return out
}

func (c *checker) checkBuckets() {
	for _, name := range sortedKeys(c.buckets) {
		b := c.buckets[name]
		if v := b.Attrs["uniform_bucket_level_access"]; v == cty.NilVal || !v.IsKnown() || v.IsNull() || v.Type() != cty.Bool || !v.True() {
			c.add("buckets", "google_storage_bucket.%s: uniform_bucket_level_access must be true", name)
		}
		if s, _ := str(b.Attrs["public_access_prevention"]); s != "enforced" {
			c.add("buckets", "google_storage_bucket.%s: public_access_prevention must be \"enforced\"", name)
		}
	}
	work := c.shared["DROPCAST_WORK_BUCKET"]
	if r, ok := parseRef(cty.StringVal(work)); ok && c.buckets[r.Name] != nil {
		found := false
		for _, rule := range c.buckets[r.Name].children("lifecycle_rule") {
			a := rule.child("action")
			cond := rule.child("condition")
			if a != nil && cond != nil {
				if t, _ := str(a.Attrs["type"]); t == "Delete" && intOf(cond.Attrs["age"]) > 0 {
					found = true
				}
			}
		}
		if !found {
			c.add("buckets", "google_storage_bucket.%s (work): needs a lifecycle rule deleting files after N days", r.Name)
		}
	}
}

func (c *checker) checkSecrets() {
	for _, m := range c.mods {
		for addr := range m.Resources {
			if strings.HasPrefix(addr, "google_secret_manager_secret_version.") {
				c.add("secrets", "%s: %s would put the secret's value in Terraform state; add versions with gcloud", rel(c.repo, m.Dir), addr)
			}
		}
	}
	// Whoever mounts a secret can read it, and only that secret.
	for _, name := range sortedKeys(c.fns) {
		d := c.fns[name]
		for _, k := range sortedKeys(d.SecretEnv) {
			r, ok := parseRef(cty.StringVal(d.SecretEnv[k]))
			if !ok {
				continue
			}
			if !slices.Contains(c.grants[d.SA][r.Name], "roles/secretmanager.secretAccessor") {
				c.add("secrets", "%s mounts %s from google_secret_manager_secret.%s but %s lacks roles/secretmanager.secretAccessor on it", name, k, r.Name, d.SA)
			}
		}
	}
}

// checkSource verifies the functions are built from an archive of the repository root.
func (c *checker) checkSource() {
	objects := c.resources("google_storage_bucket_object")
	for _, name := range sortedKeys(c.fns) {
		d := c.fns[name]
		obj, _ := str(d.Attrs.Attrs["source_object"])
		r, ok := parseRef(cty.StringVal(obj))
		if !ok || r.Type != "google_storage_bucket_object" || len(objects[r.Name]) != 1 {
			c.add("functions", "%s: source_object %q is not a google_storage_bucket_object of this configuration", name, obj)
			continue
		}
		src, _ := str(objects[r.Name][0].Attrs["source"])
		ar, ok := parseRef(cty.StringVal(src))
		if !ok || ar.Type != "data.archive_file" {
			c.add("functions", "%s: source object %s is not uploaded from a data.archive_file", name, r.Name)
			continue
		}
		a := c.root.Data["archive_file."+ar.Name]
		if a == nil {
			continue
		}
		b := c.ev.evalBlock(a, nil, "")
		dir, _ := str(b.Attrs["source_dir"])
		if filepath.Clean(dir) != filepath.Clean(c.repo) {
			c.add("functions", "data.archive_file.%s: source_dir %q is not the repository root (the Go buildpack builds the root package)", ar.Name, dir)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// missing returns the elements of want absent from got.
func missing(want, got []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			out = append(out, w)
		}
	}
	return out
}
