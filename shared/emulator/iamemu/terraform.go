package iamemu

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/dropcast/dropcast/infra"
)

// Places names the resource each place of local.sa_roles (infra/iam.tf) is
// in a stack: the local stack fills it with the emulators' names.
type Places struct {
	Project    string // project ID
	NamePrefix string // var.name_prefix; "" for its default in infra/variables.tf

	// Bucket names of the places inbox, state, work, results and source.
	Inbox, State, Work, Results, Source string

	Dataset string // BigQuery dataset ID (place dataset)
	Queue   string // projects/P/locations/L/queues/Q (place queue)
	Invoker string // invoker service account email (place invoker); "" for the one Terraform creates
	Events  string // events topic ID (place events)

	// Secrets maps each secret place (slack_webhook, webhook) to its secret ID.
	Secrets map[string]string

	// EnableAutoML grants the place automl, as var.enable_automl does.
	EnableAutoML bool
}

// Terraform is what infra/iam.tf grants in a stack.
type Terraform struct {
	// Grants are one per account, place and role of local.sa_roles, members
	// as "serviceAccount:EMAIL".
	Grants []Grant
	// Accounts maps each account of local.sa_roles (ingest, …, invoker,
	// builder) to its email, PREFIX-ACCOUNT@PROJECT.iam.gserviceaccount.com.
	Accounts map[string]string
}

// Account returns the account whose email is email, or "".
func (t *Terraform) Account(email string) string {
	for name, e := range t.Accounts {
		if e == email {
			return name
		}
	}
	return ""
}

// LocalTerraform reads the grants of this tree's infra/iam.tf (embedded in
// package infra, so it works from any directory).
func LocalTerraform(p Places) (*Terraform, error) {
	return ReadTerraform(infra.IAMTF, infra.VariablesTF, p)
}

// ReadTerraform reads local.sa_roles from the text of iam.tf, and the default
// of var.name_prefix from the text of variables.tf unless p names a prefix,
// and maps each place to its resource in p. A place p does not resolve is an
// error, so no grant is dropped unnoticed.
func ReadTerraform(iamTF, variablesTF []byte, p Places) (*Terraform, error) {
	if p.Project == "" {
		return nil, fmt.Errorf("iamemu: Places.Project is empty")
	}
	prefix := p.NamePrefix
	if prefix == "" {
		v, err := hclValue(variablesTF, "variables.tf", func(b *hclsyntax.Block) *hclsyntax.Attribute {
			if b.Type == "variable" && len(b.Labels) == 1 && b.Labels[0] == "name_prefix" {
				return b.Body.Attributes["default"]
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("iamemu: default of var.name_prefix: %w", err)
		}
		if !v.Type().Equals(cty.String) || v.IsNull() {
			return nil, fmt.Errorf("iamemu: default of var.name_prefix is not a string")
		}
		prefix = v.AsString()
	}
	roles, err := hclValue(iamTF, "iam.tf", func(b *hclsyntax.Block) *hclsyntax.Attribute {
		if b.Type == "locals" {
			return b.Body.Attributes["sa_roles"]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("iamemu: local.sa_roles: %w", err)
	}
	if !roles.Type().IsObjectType() && !roles.Type().IsMapType() {
		return nil, fmt.Errorf("iamemu: local.sa_roles is not an object (account => place => roles)")
	}

	t := &Terraform{Accounts: map[string]string{}}
	for it := roles.ElementIterator(); it.Next(); {
		k, _ := it.Element()
		account := k.AsString()
		t.Accounts[account] = fmt.Sprintf("%s-%s@%s.iam.gserviceaccount.com", prefix, account, p.Project)
	}
	invoker := p.Invoker
	if invoker == "" {
		invoker = t.Accounts["invoker"]
	}
	for it := roles.ElementIterator(); it.Next(); {
		k, places := it.Element()
		account := k.AsString()
		if !places.Type().IsObjectType() && !places.Type().IsMapType() {
			return nil, fmt.Errorf("iamemu: local.sa_roles.%s is not an object (place => roles)", account)
		}
		for pit := places.ElementIterator(); pit.Next(); {
			pk, list := pit.Element()
			place := pk.AsString()
			if !list.Type().IsTupleType() && !list.Type().IsListType() {
				return nil, fmt.Errorf("iamemu: local.sa_roles.%s.%s is not a list of roles", account, place)
			}
			resource, granted, err := p.resource(place, invoker)
			if err != nil {
				return nil, fmt.Errorf("iamemu: local.sa_roles.%s: %w", account, err)
			}
			for rit := list.ElementIterator(); rit.Next(); {
				_, role := rit.Element()
				if !role.Type().Equals(cty.String) || role.IsNull() {
					return nil, fmt.Errorf("iamemu: local.sa_roles.%s.%s holds a role that is not a string", account, place)
				}
				if granted {
					t.Grants = append(t.Grants, Grant{Member: "serviceAccount:" + t.Accounts[account], Role: role.AsString(), Resource: resource})
				}
			}
		}
	}
	return t, nil
}

// resource is the resource of place, and false for a place not granted in
// this stack (automl without EnableAutoML).
func (p Places) resource(place, invoker string) (string, bool, error) {
	project := "projects/" + p.Project
	named := func(what, name, resource string) (string, bool, error) {
		if name == "" {
			return "", false, fmt.Errorf("place %s: Places gives no %s", place, what)
		}
		return resource, true, nil
	}
	bucket := func(name string) (string, bool, error) {
		return named("bucket", name, "projects/_/buckets/"+name)
	}
	switch place {
	case "project":
		return project, true, nil
	case "automl":
		return project, p.EnableAutoML, nil
	case "inbox":
		return bucket(p.Inbox)
	case "state":
		return bucket(p.State)
	case "work":
		return bucket(p.Work)
	case "results":
		return bucket(p.Results)
	case "source":
		return bucket(p.Source)
	case "dataset":
		return named("dataset", p.Dataset, project+"/datasets/"+p.Dataset)
	case "queue":
		if p.Queue != "" && !strings.HasPrefix(p.Queue, "projects/") {
			return "", false, fmt.Errorf("place queue: %q is not a queue name (projects/P/locations/L/queues/Q)", p.Queue)
		}
		return named("queue", p.Queue, p.Queue)
	case "invoker":
		return named("invoker service account", invoker, project+"/serviceAccounts/"+invoker)
	case "events":
		return named("events topic", p.Events, project+"/topics/"+p.Events)
	}
	if id, ok := p.Secrets[place]; ok {
		return named("secret", id, project+"/secrets/"+id)
	}
	return "", false, fmt.Errorf("place %s is not one Places knows (project, automl, inbox, state, work, results, source, dataset, queue, invoker, events, or a key of Secrets)", place)
}

// hclValue evaluates, without variables or functions, the attribute that
// pick chooses among the top-level blocks of src.
func hclValue(src []byte, name string, pick func(*hclsyntax.Block) *hclsyntax.Attribute) (cty.Value, error) {
	f, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	if diags.HasErrors() {
		return cty.NilVal, fmt.Errorf("parse %s: %w", name, diags)
	}
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		return cty.NilVal, fmt.Errorf("parse %s: not native HCL syntax", name)
	}
	var found *hclsyntax.Attribute
	for _, b := range body.Blocks {
		if a := pick(b); a != nil {
			if found != nil {
				return cty.NilVal, fmt.Errorf("%s: defined twice (%s and %s)", name, found.SrcRange, a.SrcRange)
			}
			found = a
		}
	}
	if found == nil {
		return cty.NilVal, fmt.Errorf("%s: not found", name)
	}
	v, diags := found.Expr.Value(nil)
	if diags.HasErrors() {
		return cty.NilVal, fmt.Errorf("%s: must be a literal: %w", found.SrcRange, diags)
	}
	return v, nil
}
