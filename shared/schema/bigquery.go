package schema

import "cloud.google.com/go/bigquery"

// FieldType is t's BigQuery field type name as the load API spells it.
func (t Type) FieldType() bigquery.FieldType {
	switch t {
	case Int64:
		return bigquery.IntegerFieldType
	case Float64:
		return bigquery.FloatFieldType
	case Bool:
		return bigquery.BooleanFieldType
	}
	return bigquery.FieldType(t) // STRING, NUMERIC, DATE, DATETIME, TIMESTAMP
}

// BigQuery is the schema of the clean CSV: the columns in spec order (REQUIRED
// when required) and the INT64 row key column last, REQUIRED.
func (s *Schema) BigQuery() bigquery.Schema {
	out := make(bigquery.Schema, 0, len(s.Columns)+1)
	for _, c := range s.Columns {
		out = append(out, &bigquery.FieldSchema{Name: c.Name, Type: c.Type.FieldType(), Required: c.Required})
	}
	return append(out, &bigquery.FieldSchema{Name: TableRowKeyColumn, Type: bigquery.IntegerFieldType, Required: true})
}
