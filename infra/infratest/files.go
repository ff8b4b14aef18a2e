package infratest

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"gopkg.in/yaml.v3"
)

// File functions. Terraform reads files at plan time, so the checker does too:
// fileset, file, filemd5 and yamldecode work on the real files. A path may
// name string variables (which otherwise evaluate to placeholders): they take
// their World value or their default, the values a plan without -var would
// use. A path that still holds a placeholder is an error, so a local built
// from it fails loudly instead of expanding to nothing.

var varPlaceholder = regexp.MustCompile(`«var\.([A-Za-z0-9_-]+)»`)

// resolvePath turns a path argument into a file system path: variables at
// their defaults, relative paths from the root module directory (where
// terraform runs).
func (e *evaluator) resolvePath(p string) (string, error) {
	var unresolved []string
	p = varPlaceholder.ReplaceAllStringFunc(p, func(m string) string {
		name := varPlaceholder.FindStringSubmatch(m)[1]
		if d, ok := e.varDefault(name); ok {
			return d
		}
		unresolved = append(unresolved, "var."+name)
		return m
	})
	if len(unresolved) > 0 {
		return "", fmt.Errorf("path %q depends on %s, which has no default", p, strings.Join(unresolved, ", "))
	}
	if strings.Contains(p, "«") {
		return "", fmt.Errorf("path %q depends on a value known only after apply", p)
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(e.m.Dir, p)
	}
	return filepath.Clean(p), nil
}

// varDefault is the value a string variable has in a plan without -var: the
// World override, else its default.
func (e *evaluator) varDefault(name string) (string, bool) {
	if v, ok := e.world[name]; ok {
		if s, ok := str(v); ok {
			return s, true
		}
	}
	b := e.m.Variables[name]
	if b == nil {
		return "", false
	}
	if a := b.Body.Attributes["default"]; a != nil {
		if v, diags := a.Expr.Value(nil); !diags.HasErrors() {
			return str(v)
		}
	}
	return "", false
}

// fileset is Terraform's fileset(path, pattern): the files under dir whose
// slash-separated path relative to dir matches pattern. Supported: *, ?,
// [...] and {a,b} alternatives; ** is not.
func fileset(dir, pattern string) ([]string, error) {
	if strings.Contains(pattern, "**") {
		return nil, fmt.Errorf("fileset pattern %q: ** is not supported by infratest", pattern)
	}
	alts := expandBraces(pattern)
	for _, a := range alts {
		if _, err := path.Match(a, ""); err != nil {
			return nil, fmt.Errorf("fileset pattern %q: %v", pattern, err)
		}
	}
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && os.IsNotExist(err) {
				return filepath.SkipAll // Terraform: a missing directory has no files
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		for _, a := range alts {
			if ok, _ := path.Match(a, rel); ok {
				out = append(out, rel)
				break
			}
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// expandBraces expands {a,b} alternatives (nested ones too).
func expandBraces(p string) []string {
	open := strings.IndexByte(p, '{')
	if open < 0 {
		return []string{p}
	}
	depth, start := 0, open+1
	var parts []string
	for i := open; i < len(p); i++ {
		switch p[i] {
		case '{':
			depth++
		case ',':
			if depth == 1 {
				parts = append(parts, p[start:i])
				start = i + 1
			}
		case '}':
			depth--
			if depth == 0 {
				parts = append(parts, p[start:i])
				var out []string
				for _, part := range parts {
					out = append(out, expandBraces(p[:open]+part+p[i+1:])...)
				}
				return out
			}
		}
	}
	return []string{p} // unbalanced: literal
}

// yamlToCty converts a document decoded by yaml.v3 the way Terraform's
// yamldecode does: mappings become objects, sequences tuples.
func yamlToCty(v any) (cty.Value, error) {
	switch x := v.(type) {
	case nil:
		return cty.NullVal(cty.DynamicPseudoType), nil
	case string:
		return cty.StringVal(x), nil
	case bool:
		return cty.BoolVal(x), nil
	case int:
		return cty.NumberIntVal(int64(x)), nil
	case int64:
		return cty.NumberIntVal(x), nil
	case uint64:
		return cty.NumberUIntVal(x), nil
	case float64:
		return cty.NumberFloatVal(x), nil
	case time.Time:
		return cty.StringVal(x.Format(time.RFC3339Nano)), nil
	case []any:
		vals := make([]cty.Value, len(x))
		for i, e := range x {
			cv, err := yamlToCty(e)
			if err != nil {
				return cty.NilVal, err
			}
			vals[i] = cv
		}
		return cty.TupleVal(vals), nil
	case map[string]any:
		attrs := map[string]cty.Value{}
		for k, e := range x {
			cv, err := yamlToCty(e)
			if err != nil {
				return cty.NilVal, err
			}
			attrs[k] = cv
		}
		return cty.ObjectVal(attrs), nil
	case map[any]any:
		attrs := map[string]cty.Value{}
		for k, e := range x {
			cv, err := yamlToCty(e)
			if err != nil {
				return cty.NilVal, err
			}
			attrs[fmt.Sprint(k)] = cv
		}
		return cty.ObjectVal(attrs), nil
	}
	return cty.NilVal, fmt.Errorf("yamldecode: unsupported value %T", v)
}

// fileFunctions are fileset, file, filemd5 and yamldecode over real files.
func fileFunctions(e *evaluator) map[string]function.Function {
	readFile := func(p string) ([]byte, error) {
		fp, err := e.resolvePath(p)
		if err != nil {
			return nil, err
		}
		return os.ReadFile(fp)
	}
	return map[string]function.Function{
		"fileset": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "path", Type: cty.String}, {Name: "pattern", Type: cty.String}},
			Type:   function.StaticReturnType(cty.Set(cty.String)),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				dir, err := e.resolvePath(args[0].AsString())
				if err != nil {
					return cty.NilVal, err
				}
				files, err := fileset(dir, args[1].AsString())
				if err != nil {
					return cty.NilVal, err
				}
				if len(files) == 0 {
					return cty.SetValEmpty(cty.String), nil
				}
				vals := make([]cty.Value, len(files))
				for i, f := range files {
					vals[i] = cty.StringVal(f)
				}
				return cty.SetVal(vals), nil
			},
		}),
		"file": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "path", Type: cty.String}},
			Type:   function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				b, err := readFile(args[0].AsString())
				if err != nil {
					return cty.NilVal, err
				}
				return cty.StringVal(string(b)), nil
			},
		}),
		"filemd5": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "path", Type: cty.String}},
			Type:   function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				b, err := readFile(args[0].AsString())
				if err != nil {
					return cty.NilVal, err
				}
				sum := md5.Sum(b)
				return cty.StringVal(hex.EncodeToString(sum[:])), nil
			},
		}),
		"yamldecode": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "src", Type: cty.String}},
			Type: func(args []cty.Value) (cty.Type, error) {
				if !args[0].IsKnown() {
					return cty.DynamicPseudoType, nil
				}
				v, err := decodeYAML(args[0].AsString())
				if err != nil {
					return cty.NilType, err
				}
				return v.Type(), nil
			},
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				return decodeYAML(args[0].AsString())
			},
		}),
	}
}

func decodeYAML(src string) (cty.Value, error) {
	if strings.Contains(src, "«") {
		return cty.NilVal, fmt.Errorf("yamldecode of a value known only after apply")
	}
	var doc any
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		return cty.NilVal, fmt.Errorf("yamldecode: %v", err)
	}
	return yamlToCty(doc)
}
