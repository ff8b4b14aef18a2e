package infratest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// FrameworkImport is the import path of the functions framework whose
// registration calls name the deployable functions.
const FrameworkImport = "github.com/GoogleCloudPlatform/functions-framework-go/functions"

// Kind is how a function is triggered.
type Kind string

const (
	HTTP       Kind = "HTTP"
	CloudEvent Kind = "CloudEvent"
)

// Function is one registration found in the code.
type Function struct {
	Name string // the registered name: the entry point
	Kind Kind
	Pos  string // file:line of the registration, relative to the repository
	Dir  string // package directory, relative to the repository (slash-separated)
}

// Var is one environment variable shared/config reads.
type Var struct {
	Name     string
	Required bool
	Secret   bool
	// Type is the Go type of the field as written: string, int, time.Duration.
	Type string
}

// CodeFacts is what the Go code says the infrastructure must provide.
type CodeFacts struct {
	Functions map[string]Function
	Vars      map[string]Var
	// GoVersion is the go directive of go.mod, e.g. "1.26.0".
	GoVersion string
	// Module is the module path of go.mod.
	Module string
	// RootImports are the imports of the package at the repository root, the
	// one the Go buildpack builds: it must import every function package.
	RootImports map[string]bool
}

// ReadCode collects the functions registered under root/functions and the
// variables of Config in root/shared/config/config.go.
func ReadCode(root string) (CodeFacts, []Problem) {
	var probs []Problem
	facts := CodeFacts{Functions: map[string]Function{}, Vars: map[string]Var{}}

	fns, err := registeredFunctions(root)
	if err != nil {
		probs = append(probs, problem("code", "%v", err))
	}
	for _, f := range fns {
		if prev, dup := facts.Functions[f.Name]; dup {
			probs = append(probs, problem("code", "function %q is registered twice: %s and %s", f.Name, prev.Pos, f.Pos))
			continue
		}
		facts.Functions[f.Name] = f
	}

	vars, err := configVars(filepath.Join(root, "shared", "config", "config.go"))
	if err != nil {
		probs = append(probs, problem("code", "%v", err))
	}
	for _, v := range vars {
		facts.Vars[v.Name] = v
	}

	if b, err := os.ReadFile(filepath.Join(root, "go.mod")); err == nil {
		if m := regexp.MustCompile(`(?m)^go\s+(\S+)`).FindSubmatch(b); m != nil {
			facts.GoVersion = string(m[1])
		}
		if m := regexp.MustCompile(`(?m)^module\s+(\S+)`).FindSubmatch(b); m != nil {
			facts.Module = string(m[1])
		}
	}
	facts.RootImports, err = rootImports(root)
	if err != nil {
		probs = append(probs, problem("code", "%v", err))
	}
	return facts, probs
}

// registeredFunctions parses every non-test .go file under root/functions and
// returns the calls functions.HTTP("name", …) and functions.CloudEvent("name", …).
func registeredFunctions(root string) ([]Function, error) {
	dir := filepath.Join(root, "functions")
	var out []Function
	fset := token.NewFileSet()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != dir && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		local := ""
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == FrameworkImport {
				local = "functions"
				if imp.Name != nil {
					local = imp.Name.Name
				}
			}
		}
		if local == "" || local == "_" {
			return nil
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); !ok || x.Name != local {
				return true
			}
			kind := Kind(sel.Sel.Name)
			if kind != HTTP && kind != CloudEvent {
				return true
			}
			pos := fset.Position(call.Pos())
			rel, _ := filepath.Rel(root, pos.Filename)
			where := fmt.Sprintf("%s:%d", filepath.ToSlash(rel), pos.Line)
			var lit *ast.BasicLit
			if len(call.Args) > 0 {
				lit, _ = call.Args[0].(*ast.BasicLit)
			}
			if lit == nil || lit.Kind != token.STRING {
				out = append(out, Function{Name: "", Kind: kind, Pos: where})
				return true
			}
			name, _ := strconv.Unquote(lit.Value)
			out = append(out, Function{Name: name, Kind: kind, Pos: where, Dir: filepath.ToSlash(filepath.Dir(rel))})
			return true
		})
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("reading functions: %w", err)
	}
	for _, f := range out {
		if f.Name == "" {
			return nil, fmt.Errorf("%s: functions.%s is called without a string literal name", f.Pos, f.Kind)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// configVars reads the struct tags of type Config in file.
func configVars(file string) ([]Var, error) {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	var st *ast.StructType
	ast.Inspect(f, func(n ast.Node) bool {
		if ts, ok := n.(*ast.TypeSpec); ok && ts.Name.Name == "Config" {
			st, _ = ts.Type.(*ast.StructType)
			return false
		}
		return st == nil
	})
	if st == nil {
		return nil, fmt.Errorf("%s: no struct type Config", file)
	}
	var vars []Var
	for _, field := range st.Fields.List {
		if field.Tag == nil {
			continue
		}
		raw, err := strconv.Unquote(field.Tag.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: tag %s: %w", file, field.Tag.Value, err)
		}
		tag := reflect.StructTag(raw)
		name := tag.Get("env")
		if name == "" {
			continue
		}
		typ := ""
		switch t := field.Type.(type) {
		case *ast.Ident:
			typ = t.Name
		case *ast.SelectorExpr:
			if x, ok := t.X.(*ast.Ident); ok {
				typ = x.Name + "." + t.Sel.Name
			}
		}
		vars = append(vars, Var{Name: name, Required: tag.Get("required") == "true", Secret: tag.Get("secret") == "true", Type: typ})
	}
	if len(vars) == 0 {
		return nil, fmt.Errorf("%s: Config has no env tags", file)
	}
	return vars, nil
}

// rootImports returns the imports of the non-test .go files at root.
func rootImports(root string) (map[string]bool, error) {
	files, err := filepath.Glob(filepath.Join(root, "*.go"))
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			return nil, fmt.Errorf("reading root package: %w", err)
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			out[p] = true
		}
	}
	return out, nil
}
