package bqemu

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	bq "google.golang.org/api/bigquery/v2"
)

// canonicalTypes maps every accepted type spelling to the legacy name the
// REST API reports.
var canonicalTypes = map[string]string{
	"STRING": "STRING", "BYTES": "BYTES",
	"INTEGER": "INTEGER", "INT64": "INTEGER",
	"FLOAT": "FLOAT", "FLOAT64": "FLOAT",
	"NUMERIC": "NUMERIC",
	"BOOLEAN": "BOOLEAN", "BOOL": "BOOLEAN",
	"DATE": "DATE", "DATETIME": "DATETIME", "TIME": "TIME", "TIMESTAMP": "TIMESTAMP",
}

// sqlTypeName is the GoogleSQL spelling used in error messages.
func sqlTypeName(t string) string {
	switch t {
	case "INTEGER":
		return "INT64"
	case "FLOAT":
		return "FLOAT64"
	case "BOOLEAN":
		return "BOOL"
	}
	return t
}

// fieldNamePattern is a column name as https://cloud.google.com/bigquery/docs/schemas
// allows it, flexible column names included: letters, numbers, connectors,
// dashes and marks of any script, whitespace and & % = + : ' < > # |.
var fieldNamePattern = regexp.MustCompile(`^[\p{L}\p{N}\p{Pc}\p{Pd}\p{M}\s&%=+:'<>#|]+$`)

// reservedPrefixes are the column-name prefixes the same page forbids.
var reservedPrefixes = []string{"_TABLE_", "_FILE_", "_PARTITION", "_ROW_TIMESTAMP", "__ROOT__",
	"_COLIDENTIFIER", "_CHANGE_SEQUENCE_NUMBER", "_CHANGE_TYPE", "_CHANGE_TIMESTAMP"}

// validFieldName reports whether BigQuery accepts name as a column name.
func validFieldName(name string) bool {
	if utf8.RuneCountInString(name) > 300 || !fieldNamePattern.MatchString(name) {
		return false
	}
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(strings.ToUpper(name), p) {
			return false
		}
	}
	return true
}

// normalizeSchema validates a schema and returns a copy with canonical type
// names and explicit modes.
func normalizeSchema(in *bq.TableSchema) ([]*bq.TableFieldSchema, error) {
	if in == nil {
		return nil, nil
	}
	out := make([]*bq.TableFieldSchema, 0, len(in.Fields))
	seen := map[string]bool{}
	for _, f := range in.Fields {
		if f == nil {
			return nil, errInvalid("Schema field is null")
		}
		if !validFieldName(f.Name) {
			return nil, errInvalid("Invalid field name %q. Fields must contain only letters, numbers, and underscores, start with a letter or underscore, and be at most 300 characters long.", f.Name)
		}
		lower := strings.ToLower(f.Name)
		if seen[lower] {
			return nil, errInvalid("Duplicate column names in schema: %s", f.Name)
		}
		seen[lower] = true
		typ := strings.ToUpper(f.Type)
		switch typ {
		case "RECORD", "STRUCT", "BIGNUMERIC", "BIGDECIMAL", "GEOGRAPHY", "JSON", "INTERVAL", "RANGE":
			return nil, errUnsupported("field %s has type %s; supported types are STRING, BYTES, INT64, FLOAT64, NUMERIC, BOOL, DATE, DATETIME, TIME, TIMESTAMP", f.Name, typ)
		}
		canon, ok := canonicalTypes[typ]
		if !ok {
			return nil, errInvalid("Invalid value for type: %s is not a valid value", f.Type)
		}
		mode := strings.ToUpper(f.Mode)
		switch mode {
		case "":
			mode = "NULLABLE"
		case "NULLABLE", "REQUIRED":
		case "REPEATED":
			return nil, errUnsupported("field %s has mode REPEATED", f.Name)
		default:
			return nil, errInvalid("Invalid value for mode: %s is not a valid value", f.Mode)
		}
		out = append(out, &bq.TableFieldSchema{Name: f.Name, Type: canon, Mode: mode, Description: f.Description})
	}
	return out, nil
}

// fieldIndex finds a field by case-insensitive name, or -1.
func fieldIndex(fields []*bq.TableFieldSchema, name string) int {
	for i, f := range fields {
		if strings.EqualFold(f.Name, name) {
			return i
		}
	}
	return -1
}

// evolution says which schema changes are permitted.
type evolution struct {
	allowAddition   bool
	allowRelaxation bool
}

// evolveSchema checks a proposed schema against a table's current one and
// returns the resulting schema: the current fields in their order (with
// descriptions and relaxed modes taken from the proposal) followed by added
// fields. Every incompatibility is listed in one invalid error.
func evolveSchema(tableID string, current, proposed []*bq.TableFieldSchema, ev evolution) ([]*bq.TableFieldSchema, error) {
	var problems []string
	merged := make([]*bq.TableFieldSchema, 0, len(proposed))
	for _, cur := range current {
		i := fieldIndex(proposed, cur.Name)
		if i < 0 {
			problems = append(problems, fmt.Sprintf("Field %s is missing in new schema", cur.Name))
			continue
		}
		p := proposed[i]
		if p.Type != cur.Type {
			problems = append(problems, fmt.Sprintf("Field %s has changed type from %s to %s", cur.Name, cur.Type, p.Type))
			continue
		}
		next := *cur
		if p.Description != "" {
			next.Description = p.Description
		}
		if p.Mode != cur.Mode {
			if cur.Mode == "REQUIRED" && p.Mode == "NULLABLE" && ev.allowRelaxation {
				next.Mode = "NULLABLE"
			} else {
				problems = append(problems, fmt.Sprintf("Field %s has changed mode from %s to %s", cur.Name, cur.Mode, p.Mode))
				continue
			}
		}
		merged = append(merged, &next)
	}
	var added []string
	for _, p := range proposed {
		if fieldIndex(current, p.Name) >= 0 {
			continue
		}
		switch {
		case p.Mode == "REQUIRED":
			problems = append(problems, fmt.Sprintf("Cannot add required fields to an existing schema. (field: %s)", p.Name))
		case !ev.allowAddition:
			added = append(added, "field: "+p.Name)
		default:
			f := *p
			merged = append(merged, &f)
		}
	}
	if len(added) > 0 {
		problems = append(problems, fmt.Sprintf("Cannot add fields (%s)", strings.Join(added, ", ")))
	}
	if len(problems) > 0 {
		return nil, errInvalid("Provided Schema does not match Table %s. %s", tableID, strings.Join(problems, "; "))
	}
	return merged, nil
}

// wireSchema wraps fields as a TableSchema for responses.
func wireSchema(fields []*bq.TableFieldSchema) *bq.TableSchema {
	out := &bq.TableSchema{Fields: make([]*bq.TableFieldSchema, len(fields))}
	for i, f := range fields {
		c := *f
		out.Fields[i] = &c
	}
	return out
}
