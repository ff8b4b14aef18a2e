package infratest

import (
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// module is one Terraform module directory, parsed.
type module struct {
	Dir       string
	Src       map[string][]byte // file name => source
	Variables map[string]*hclsyntax.Block
	Locals    map[string]*hclsyntax.Attribute
	Resources map[string]*hclsyntax.Block // "TYPE.NAME"
	Data      map[string]*hclsyntax.Block // "TYPE.NAME"
	Modules   map[string]*hclsyntax.Block // "NAME"
	Checks    []*hclsyntax.Block
	bodies    []*hclsyntax.Body
}

// parseTree parses every .tf file under dir (skipping .terraform and dot
// directories) and returns the modules by directory.
func parseTree(dir string) (map[string]*module, []Problem) {
	var probs []Problem
	mods := map[string]*module{}
	parser := hclparse.NewParser()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".tf") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, diags := parser.ParseHCL(src, path)
		if diags.HasErrors() {
			probs = append(probs, problem("parse", "%s", diags.Error()))
			return nil
		}
		m := mods[filepath.Dir(path)]
		if m == nil {
			m = &module{Dir: filepath.Dir(path), Src: map[string][]byte{}, Variables: map[string]*hclsyntax.Block{},
				Locals: map[string]*hclsyntax.Attribute{}, Resources: map[string]*hclsyntax.Block{},
				Data: map[string]*hclsyntax.Block{}, Modules: map[string]*hclsyntax.Block{}}
			mods[m.Dir] = m
		}
		m.Src[path] = src
		body := f.Body.(*hclsyntax.Body)
		m.bodies = append(m.bodies, body)
		for name := range body.Attributes {
			probs = append(probs, problem("parse", "%s: unexpected top-level attribute %q", path, name))
		}
		for _, b := range body.Blocks {
			switch b.Type {
			case "variable":
				m.Variables[b.Labels[0]] = b
			case "locals":
				for name, a := range b.Body.Attributes {
					if _, dup := m.Locals[name]; dup {
						probs = append(probs, problem("parse", "%s: local.%s is defined twice", path, name))
					}
					m.Locals[name] = a
				}
			case "resource":
				m.Resources[b.Labels[0]+"."+b.Labels[1]] = b
			case "data":
				m.Data[b.Labels[0]+"."+b.Labels[1]] = b
			case "module":
				m.Modules[b.Labels[0]] = b
			case "check":
				m.Checks = append(m.Checks, b)
			}
		}
		return nil
	})
	if err != nil {
		probs = append(probs, problem("parse", "reading %s: %v", dir, err))
	}
	return mods, probs
}

// text returns the source text of rng, with runs of blanks squeezed.
func (m *module) text(rng hcl.Range) string {
	src := m.Src[rng.Filename]
	if src == nil || rng.End.Byte > len(src) {
		return ""
	}
	return strings.Join(strings.Fields(string(src[rng.Start.Byte:rng.End.Byte])), " ")
}

// placeholder is the value a reference evaluates to: its own address.
func placeholder(addr string) cty.Value { return cty.StringVal("«" + addr + "»") }

// ref is a parsed placeholder: «TYPE.NAME[KEY].ATTR» (data sources and
// modules keep their data./module. prefix in Type).
type ref struct{ Type, Name, Key, Attr string }

// parseRef reads a value that is exactly one placeholder.
func parseRef(v cty.Value) (ref, bool) {
	s, ok := str(v)
	if !ok || !strings.HasPrefix(s, "«") || !strings.HasSuffix(s, "»") || strings.Count(s, "«") != 1 {
		return ref{}, false
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "«"), "»")
	parts := strings.Split(s, ".")
	if (parts[0] == "data" || parts[0] == "module") && len(parts) > 1 {
		parts = append([]string{parts[0] + "." + parts[1]}, parts[2:]...)
	}
	if parts[0] == "module" { // module.NAME[KEY].ATTR
		parts = append([]string{"module"}, parts...)
	}
	var r ref
	r.Type = parts[0]
	if len(parts) > 1 {
		r.Name = parts[1]
		if i := strings.Index(r.Name, "["); i >= 0 && strings.HasSuffix(r.Name, "]") {
			r.Key = r.Name[i+1 : len(r.Name)-1]
			r.Name = r.Name[:i]
		}
	}
	if len(parts) > 2 {
		r.Attr = strings.Join(parts[2:], ".")
	}
	return r, true
}

// str returns v as a known string (numbers and bools converted).
func str(v cty.Value) (string, bool) {
	if v == cty.NilVal || !v.IsWhollyKnown() || v.IsNull() {
		return "", false
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		return "", false
	}
	return s.AsString(), true
}

// strMap returns v (a map or object of strings) as a Go map.
func strMap(v cty.Value) (map[string]string, bool) {
	if v == cty.NilVal || !v.IsWhollyKnown() {
		return nil, false
	}
	if v.IsNull() {
		return map[string]string{}, true
	}
	if !v.Type().IsMapType() && !v.Type().IsObjectType() {
		return nil, false
	}
	out := map[string]string{}
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		s, ok := str(e)
		if !ok {
			return nil, false
		}
		out[k.AsString()] = s
	}
	return out, true
}

// evaluator evaluates one module's expressions symbolically.
type evaluator struct {
	m      *module
	vars   map[string]cty.Value
	locals map[string]cty.Value
	lerrs  map[string]hcl.Diagnostics
	attrs  []string            // every attribute name used in a reference anywhere
	keys   map[string][]string // for_each instance keys by "resource.TYPE.NAME", "data.TYPE.NAME", "module.NAME"
	funcs  map[string]function.Function
	world  map[string]cty.Value // the World overrides, evaluated
	refs   map[string]cty.Value // resource, data and module values; nil = rebuild
}

// newEvaluator prepares m for evaluation: variables of type string become
// placeholders, others their default, unless world overrides them (values are
// HCL expressions). File functions read the real files (see files.go).
func newEvaluator(m *module, world map[string]string) (*evaluator, []Problem) {
	var probs []Problem
	e := &evaluator{m: m, vars: map[string]cty.Value{}, keys: map[string][]string{}, world: map[string]cty.Value{}}
	e.funcs = functions(e)
	for _, name := range sortedKeys(world) {
		if m.Variables[name] == nil {
			probs = append(probs, problem("world", "var.%s is not declared in %s: drop it from World", name, m.Dir))
		}
	}
	for name, b := range m.Variables {
		if w, ok := world[name]; ok {
			expr, diags := hclsyntax.ParseExpression([]byte(w), "world."+name, hcl.InitialPos)
			if diags.HasErrors() {
				probs = append(probs, problem("world", "var.%s: %s", name, diags.Error()))
				continue
			}
			v, diags := expr.Value(&hcl.EvalContext{Functions: e.funcs})
			if diags.HasErrors() {
				probs = append(probs, problem("world", "var.%s: %s", name, diags.Error()))
				continue
			}
			e.vars[name] = v
			e.world[name] = v
			continue
		}
		typ := ""
		if a := b.Body.Attributes["type"]; a != nil {
			typ = m.text(a.Expr.Range())
		}
		if typ == "string" {
			e.vars[name] = placeholder("var." + name)
			continue
		}
		if a := b.Body.Attributes["default"]; a != nil {
			v, diags := a.Expr.Value(nil)
			if !diags.HasErrors() && !v.IsNull() {
				e.vars[name] = v
				continue
			}
		}
		e.vars[name] = cty.DynamicVal
	}
	seen := map[string]bool{"id": true, "name": true}
	for _, body := range m.bodies {
		hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
			var tr hcl.Traversal
			switch x := n.(type) {
			case *hclsyntax.ScopeTraversalExpr:
				tr = x.Traversal
			case *hclsyntax.RelativeTraversalExpr:
				tr = x.Traversal
			}
			for _, step := range tr {
				if a, ok := step.(hcl.TraverseAttr); ok {
					seen[a.Name] = true
				}
			}
			return nil
		})
	}
	for a := range seen {
		e.attrs = append(e.attrs, a)
	}
	sort.Strings(e.attrs)
	e.settle()
	return e, probs
}

// settle evaluates the locals and the for_each keys until they stop changing.
func (e *evaluator) settle() {
	for round := 0; round < 5; round++ {
		e.evalLocals()
		next := map[string][]string{}
		forEach := func(addr string, b *hclsyntax.Block) {
			a := b.Body.Attributes["for_each"]
			if a == nil {
				return
			}
			next[addr] = nil
			v, diags := a.Expr.Value(e.ctx(nil))
			if diags.HasErrors() || !v.IsWhollyKnown() || v.IsNull() || !v.CanIterateElements() {
				return
			}
			keys := []string{}
			for it := v.ElementIterator(); it.Next(); {
				k, el := it.Element()
				if v.Type().IsSetType() {
					k = el
				}
				if s, ok := str(k); ok {
					keys = append(keys, s)
				}
			}
			sort.Strings(keys)
			next[addr] = keys
		}
		for addr, b := range e.m.Resources {
			forEach("resource."+addr, b)
		}
		for addr, b := range e.m.Data {
			forEach("data."+addr, b)
		}
		for addr, b := range e.m.Modules {
			forEach("module."+addr, b)
		}
		if round > 0 && keysString(next) == keysString(e.keys) {
			return
		}
		e.keys = next
		e.refs = nil
	}
}

func keysString(keys map[string][]string) string {
	var b strings.Builder
	for _, addr := range sortedKeys(keys) {
		if keys[addr] == nil {
			fmt.Fprintf(&b, "%s=?;", addr)
		} else {
			fmt.Fprintf(&b, "%s=%q;", addr, keys[addr])
		}
	}
	return b.String()
}

func (e *evaluator) evalLocals() {
	e.locals = map[string]cty.Value{}
	e.lerrs = map[string]hcl.Diagnostics{}
	pending := map[string]*hclsyntax.Attribute{}
	for k, a := range e.m.Locals {
		pending[k] = a
	}
	for len(pending) > 0 {
		progress := false
		for name, a := range pending {
			v, diags := a.Expr.Value(e.ctx(nil))
			if diags.HasErrors() {
				e.lerrs[name] = diags
				continue
			}
			e.locals[name] = v
			delete(e.lerrs, name)
			delete(pending, name)
			progress = true
		}
		if !progress {
			return
		}
	}
}

// object builds the placeholder object of one resource instance.
func (e *evaluator) object(addr string) cty.Value {
	attrs := map[string]cty.Value{}
	for _, a := range e.attrs {
		attrs[a] = placeholder(addr + "." + a)
	}
	return cty.ObjectVal(attrs)
}

// instances builds the value of a resource, data source or module: one
// placeholder object, or an object of them by for_each key.
func (e *evaluator) instances(kind, addr, display string) cty.Value {
	keys, isForEach := e.keys[kind+"."+addr]
	if !isForEach {
		return e.object(display)
	}
	if keys == nil {
		return cty.DynamicVal
	}
	objs := map[string]cty.Value{}
	for _, k := range keys {
		objs[k] = e.object(display + "[" + k + "]")
	}
	return cty.ObjectVal(objs)
}

// ctx is the evaluation context; each is the each object of a for_each instance.
func (e *evaluator) ctx(each map[string]cty.Value) *hcl.EvalContext {
	vars := map[string]cty.Value{
		"var":       cty.ObjectVal(e.vars),
		"local":     cty.ObjectVal(e.locals),
		"path":      cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal(e.m.Dir), "root": cty.StringVal(e.m.Dir), "cwd": cty.StringVal(e.m.Dir)}),
		"terraform": cty.ObjectVal(map[string]cty.Value{"workspace": cty.StringVal("default")}),
	}
	if len(e.vars) == 0 {
		vars["var"] = cty.EmptyObjectVal
	}
	if len(e.locals) == 0 {
		vars["local"] = cty.EmptyObjectVal
	}
	if each != nil {
		vars["each"] = cty.ObjectVal(each)
	}
	if e.refs == nil {
		e.refs = e.buildRefs()
	}
	for k, v := range e.refs {
		vars[k] = v
	}
	return &hcl.EvalContext{Variables: vars, Functions: e.funcs}
}

func (e *evaluator) buildRefs() map[string]cty.Value {
	vars := map[string]cty.Value{}
	types := map[string]map[string]cty.Value{}
	for addr := range e.m.Resources {
		t, n, _ := strings.Cut(addr, ".")
		if types[t] == nil {
			types[t] = map[string]cty.Value{}
		}
		types[t][n] = e.instances("resource", addr, addr)
	}
	for t, ns := range types {
		vars[t] = cty.ObjectVal(ns)
	}
	data := map[string]map[string]cty.Value{}
	for addr := range e.m.Data {
		t, n, _ := strings.Cut(addr, ".")
		if data[t] == nil {
			data[t] = map[string]cty.Value{}
		}
		data[t][n] = e.instances("data", addr, "data."+addr)
	}
	if len(data) > 0 {
		d := map[string]cty.Value{}
		for t, ns := range data {
			d[t] = cty.ObjectVal(ns)
		}
		vars["data"] = cty.ObjectVal(d)
	}
	if len(e.m.Modules) > 0 {
		mods := map[string]cty.Value{}
		for name := range e.m.Modules {
			mods[name] = e.instances("module", name, "module."+name)
		}
		vars["module"] = cty.ObjectVal(mods)
	}
	return vars
}

// block is an evaluated block: its attributes and nested blocks.
type block struct {
	Type   string
	Labels []string
	Key    string // for_each key of this instance, "" without for_each
	Attrs  map[string]cty.Value
	Errs   map[string]hcl.Diagnostics
	Blocks []*block
	Src    *hclsyntax.Block
}

// attr returns the value of a dotted path: "http_target.oidc_token.audience"
// (nested blocks by type; the first of each type).
func (b *block) attr(path string) cty.Value {
	cur := b
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		cur = cur.child(p)
		if cur == nil {
			return cty.NilVal
		}
	}
	v, ok := cur.Attrs[parts[len(parts)-1]]
	if !ok {
		return cty.NilVal
	}
	return v
}

func (b *block) child(typ string) *block {
	for _, c := range b.Blocks {
		if c.Type == typ {
			return c
		}
	}
	return nil
}

func (b *block) children(typ string) []*block {
	var out []*block
	for _, c := range b.Blocks {
		if c.Type == typ {
			out = append(out, c)
		}
	}
	return out
}

// expand evaluates every instance of a resource, data source or module block.
func (e *evaluator) expand(kind, addr string, src *hclsyntax.Block) []*block {
	keys, isForEach := e.keys[kind+"."+addr]
	if !isForEach {
		return []*block{e.evalBlock(src, nil, "")}
	}
	fe, _ := src.Body.Attributes["for_each"].Expr.Value(e.ctx(nil))
	var out []*block
	for _, k := range keys {
		var val cty.Value
		if fe.Type().IsSetType() {
			val = cty.StringVal(k)
		} else {
			val, _ = hcl.Index(fe, cty.StringVal(k), nil)
		}
		out = append(out, e.evalBlock(src, map[string]cty.Value{"key": cty.StringVal(k), "value": val}, k))
	}
	return out
}

// sampleKey is the Key of the stand-in instance expandOrSample evaluates.
const sampleKey = "«each.key»"

// expandOrSample is expand, except that a for_each over nothing (no spec
// files yet, say) yields one stand-in instance whose each.key and each.value
// are placeholders, so that the shape of the block can still be checked.
func (e *evaluator) expandOrSample(kind, addr string, src *hclsyntax.Block) []*block {
	if keys, isForEach := e.keys[kind+"."+addr]; isForEach && keys != nil && len(keys) == 0 {
		return []*block{e.evalBlock(src, map[string]cty.Value{"key": placeholder("each.key"), "value": placeholder("each.value")}, sampleKey)}
	}
	return e.expand(kind, addr, src)
}

func (e *evaluator) evalBlock(src *hclsyntax.Block, each map[string]cty.Value, key string) *block {
	ctx := e.ctx(each)
	return evalBody(ctx, src, key)
}

func evalBody(ctx *hcl.EvalContext, src *hclsyntax.Block, key string) *block {
	b := &block{Type: src.Type, Labels: src.Labels, Key: key, Attrs: map[string]cty.Value{}, Errs: map[string]hcl.Diagnostics{}, Src: src}
	for name, a := range src.Body.Attributes {
		if name == "depends_on" || name == "source" && src.Type == "module" {
			continue
		}
		v, diags := a.Expr.Value(ctx)
		if diags.HasErrors() {
			b.Errs[name] = diags
			v = cty.DynamicVal
		}
		b.Attrs[name] = v
	}
	for _, c := range src.Body.Blocks {
		if c.Type == "dynamic" && len(c.Labels) == 1 {
			b.Blocks = append(b.Blocks, expandDynamic(ctx, c)...)
			continue
		}
		b.Blocks = append(b.Blocks, evalBody(ctx, c, ""))
	}
	return b
}

// expandDynamic expands a dynamic block whose for_each is known.
func expandDynamic(ctx *hcl.EvalContext, d *hclsyntax.Block) []*block {
	iter := d.Labels[0]
	if a := d.Body.Attributes["iterator"]; a != nil {
		if t, ok := a.Expr.(*hclsyntax.ScopeTraversalExpr); ok {
			iter = t.Traversal.RootName()
		}
	}
	var content *hclsyntax.Block
	for _, c := range d.Body.Blocks {
		if c.Type == "content" {
			content = c
		}
	}
	fa := d.Body.Attributes["for_each"]
	if fa == nil || content == nil {
		return nil
	}
	fe, diags := fa.Expr.Value(ctx)
	if diags.HasErrors() || !fe.IsWhollyKnown() || fe.IsNull() || !fe.CanIterateElements() {
		return nil
	}
	var out []*block
	for it := fe.ElementIterator(); it.Next(); {
		k, v := it.Element()
		child := ctx.NewChild()
		child.Variables = map[string]cty.Value{iter: cty.ObjectVal(map[string]cty.Value{"key": k, "value": v})}
		b := evalBody(child, content, "")
		b.Type = d.Labels[0]
		out = append(out, b)
	}
	return out
}

// functions is the subset of Terraform's functions the configuration uses;
// the file functions (fileFunctions) read the real files.
func functions(e *evaluator) map[string]function.Function {
	toFunc := func(ty cty.Type) function.Function {
		return function.New(&function.Spec{
			Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType, AllowNull: true, AllowDynamicType: true, AllowUnknown: true}},
			Type: func(args []cty.Value) (cty.Type, error) {
				if ty == cty.DynamicPseudoType || !ty.IsPrimitiveType() {
					out, err := convert.Convert(args[0], ty)
					if err != nil {
						return cty.NilType, err
					}
					return out.Type(), nil
				}
				return ty, nil
			},
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) { return convert.Convert(args[0], ty) },
		})
	}
	strFunc := func(f func(args []string) cty.Value, n int) function.Function {
		params := make([]function.Parameter, n)
		for i := range params {
			params[i] = function.Parameter{Name: fmt.Sprint("a", i), Type: cty.String}
		}
		return function.New(&function.Spec{
			Params: params,
			Type: func(args []cty.Value) (cty.Type, error) {
				return f(make([]string, n)).Type(), nil
			},
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				ss := make([]string, len(args))
				for i, a := range args {
					ss[i] = a.AsString()
				}
				return f(ss), nil
			},
		})
	}
	boolsFunc := func(any bool) function.Function {
		return function.New(&function.Spec{
			Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
			Type:   function.StaticReturnType(cty.Bool),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				for it := args[0].ElementIterator(); it.Next(); {
					_, v := it.Element()
					if v.True() == any {
						return cty.BoolVal(any), nil
					}
				}
				return cty.BoolVal(!any), nil
			},
		})
	}
	fns := map[string]function.Function{
		"abs": stdlib.AbsoluteFunc, "ceil": stdlib.CeilFunc, "chomp": stdlib.ChompFunc,
		"coalesce": stdlib.CoalesceFunc, "coalescelist": stdlib.CoalesceListFunc, "compact": stdlib.CompactFunc,
		"concat": stdlib.ConcatFunc, "contains": stdlib.ContainsFunc, "distinct": stdlib.DistinctFunc,
		"element": stdlib.ElementFunc, "flatten": stdlib.FlattenFunc, "floor": stdlib.FloorFunc,
		"format": stdlib.FormatFunc, "formatlist": stdlib.FormatListFunc, "join": stdlib.JoinFunc,
		"jsondecode": stdlib.JSONDecodeFunc, "jsonencode": stdlib.JSONEncodeFunc, "keys": stdlib.KeysFunc,
		"length": stdlib.LengthFunc, "lookup": stdlib.LookupFunc, "lower": stdlib.LowerFunc,
		"max": stdlib.MaxFunc, "merge": stdlib.MergeFunc, "min": stdlib.MinFunc, "range": stdlib.RangeFunc,
		"regex": stdlib.RegexFunc, "regexall": stdlib.RegexAllFunc, "replace": stdlib.ReplaceFunc,
		"reverse": stdlib.ReverseListFunc, "setunion": stdlib.SetUnionFunc, "slice": stdlib.SliceFunc,
		"sort": stdlib.SortFunc, "split": stdlib.SplitFunc, "substr": stdlib.SubstrFunc,
		"title": stdlib.TitleFunc, "trim": stdlib.TrimFunc, "trimprefix": stdlib.TrimPrefixFunc,
		"trimsuffix": stdlib.TrimSuffixFunc, "trimspace": stdlib.TrimSpaceFunc, "upper": stdlib.UpperFunc,
		"values": stdlib.ValuesFunc, "zipmap": stdlib.ZipmapFunc,
		"try": tryfunc.TryFunc, "can": tryfunc.CanFunc,
		"tostring": toFunc(cty.String), "tonumber": toFunc(cty.Number), "tobool": toFunc(cty.Bool),
		"tolist": toFunc(cty.List(cty.DynamicPseudoType)), "toset": toFunc(cty.Set(cty.DynamicPseudoType)),
		"tomap":   toFunc(cty.Map(cty.DynamicPseudoType)),
		"alltrue": boolsFunc(false), "anytrue": boolsFunc(true),
		"startswith": strFunc(func(a []string) cty.Value { return cty.BoolVal(strings.HasPrefix(a[0], a[1])) }, 2),
		"endswith":   strFunc(func(a []string) cty.Value { return cty.BoolVal(strings.HasSuffix(a[0], a[1])) }, 2),
		"base64encode": strFunc(func(a []string) cty.Value {
			return cty.StringVal(base64.StdEncoding.EncodeToString([]byte(a[0])))
		}, 1),
		"base64decode": strFunc(func(a []string) cty.Value {
			b, _ := base64.StdEncoding.DecodeString(a[0])
			return cty.StringVal(string(b))
		}, 1),
	}
	for name, f := range fileFunctions(e) {
		fns[name] = f
	}
	return fns
}
