package bqemu

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	bq "google.golang.org/api/bigquery/v2"

	"github.com/dropcast/dropcast/shared/emulator/iamemu"
)

// executeQuery runs a query job's SQL and stores its result.
func (s *Server) executeQuery(j *job) {
	q := j.config.Query
	if q.UseLegacySql == nil || *q.UseLegacySql {
		j.fail(errUnsupported("legacy SQL; set useLegacySql=false"))
		return
	}
	params, err := queryParams(q)
	if err != nil {
		j.fail(err)
		return
	}
	if q.DestinationTable != nil {
		j.fail(errUnsupported("query destination tables"))
		return
	}
	if err := s.checkQueryTable(j, q); err != nil {
		j.fail(err)
		return
	}
	res, err := s.evalQuery(j.project, q.DefaultDataset, q.Query, params)
	if err != nil {
		j.fail(err)
		return
	}
	j.result = res
}

var requestIDUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// runQuery implements jobs.query: it inserts a query job (the request ID
// makes retries idempotent), waits up to timeoutMs for it and answers the
// first page of results.
func (s *Server) runQuery(w http.ResponseWriter, r *http.Request) {
	project := r.PathValue("project")
	var in bq.QueryRequest
	if err := readJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	identity := iamemu.IdentityFromHTTP(r)
	if err := s.check(identity, "bigquery.jobs.create", projectResource(project)); err != nil {
		s.writeError(w, r, err)
		return
	}
	if in.DryRun {
		s.writeError(w, r, errUnsupported("dry-run queries"))
		return
	}
	useLegacy := in.UseLegacySql
	if useLegacy == nil {
		t := true
		useLegacy = &t
	}
	ref := &bq.JobReference{ProjectId: project, Location: in.Location}
	var j *job
	if in.RequestId != "" {
		ref.JobId = "job_q_" + requestIDUnsafe.ReplaceAllString(in.RequestId, "_")
		s.store.mu.Lock()
		j = s.store.jobs[key(project, ref.JobId)]
		s.store.mu.Unlock()
	}
	if j == nil {
		var err error
		j, err = s.createJob(project, identity, &bq.Job{JobReference: ref, Configuration: &bq.JobConfiguration{
			Labels: in.Labels,
			Query: &bq.JobConfigurationQuery{
				Query:           in.Query,
				UseLegacySql:    useLegacy,
				DefaultDataset:  in.DefaultDataset,
				QueryParameters: in.QueryParameters,
				ParameterMode:   in.ParameterMode,
			},
		}})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	timeout := 10 * time.Second
	if in.TimeoutMs > 0 {
		timeout = time.Duration(in.TimeoutMs) * time.Millisecond
	}
	if !s.awaitDone(r.Context(), j, timeout) {
		writeJSON(w, http.StatusOK, &bq.QueryResponse{Kind: "bigquery#queryResponse", JobReference: s.jobResource(j).JobReference})
		return
	}
	if j.err != nil {
		s.writeError(w, r, j.err)
		return
	}
	q := r.URL.Query()
	if in.MaxResults > 0 {
		q.Set("maxResults", strconv.FormatInt(in.MaxResults, 10))
	}
	pg, err := pageOf(len(j.result.rows), q, j.id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	useInt64 := in.FormatOptions != nil && in.FormatOptions.UseInt64Timestamp
	writeJSON(w, http.StatusOK, &bq.QueryResponse{
		Kind:                "bigquery#queryResponse",
		JobReference:        &bq.JobReference{ProjectId: j.project, JobId: j.id, Location: j.location},
		JobComplete:         true,
		Schema:              wireSchema(j.result.schema),
		Rows:                wireRows(j.result.schema, j.result.rows[pg.start:pg.end], useInt64),
		TotalRows:           uint64(len(j.result.rows)),
		PageToken:           pg.nextToken,
		TotalBytesProcessed: j.result.bytesProcessed,
		ForceSendFields:     []string{"TotalRows", "TotalBytesProcessed"},
	})
}

// getQueryResults implements jobs.getQueryResults.
func (s *Server) getQueryResults(w http.ResponseWriter, r *http.Request) {
	j, err := s.lookupJob(r)
	if err == nil {
		err = s.checkJobAccess(r, j, "bigquery.jobs.get")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if j.config.Query == nil {
		s.writeError(w, r, errInvalid("Job %s:%s.%s is not a query job", j.project, j.location, j.id))
		return
	}
	q := r.URL.Query()
	if !s.awaitDone(r.Context(), j, timeoutParam(q.Get("timeoutMs"))) {
		writeJSON(w, http.StatusOK, &bq.GetQueryResultsResponse{Kind: "bigquery#getQueryResultsResponse",
			JobReference: &bq.JobReference{ProjectId: j.project, JobId: j.id, Location: j.location}})
		return
	}
	if j.err != nil {
		s.writeError(w, r, j.err)
		return
	}
	pg, err := pageOf(len(j.result.rows), q, j.id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, &bq.GetQueryResultsResponse{
		Kind:                "bigquery#getQueryResultsResponse",
		JobReference:        &bq.JobReference{ProjectId: j.project, JobId: j.id, Location: j.location},
		JobComplete:         true,
		Schema:              wireSchema(j.result.schema),
		Rows:                wireRows(j.result.schema, j.result.rows[pg.start:pg.end], useInt64Timestamp(q)),
		TotalRows:           uint64(len(j.result.rows)),
		PageToken:           pg.nextToken,
		TotalBytesProcessed: j.result.bytesProcessed,
		ForceSendFields:     []string{"TotalRows", "TotalBytesProcessed"},
	})
}

// checkQueryTable checks, as the job's creator, bigquery.tables.getData on
// the dataset of the table the query reads (iam.go), and for a script's DML
// bigquery.tables.getData and bigquery.tables.updateData on the dataset of
// each table it modifies (a DML statement reads and writes its table; TODO:
// quote the DML page's required permissions). A query that does not parse
// is left to evalQuery's error.
func (s *Server) checkQueryTable(j *job, q *bq.JobConfigurationQuery) error {
	params, _ := queryParams(q)
	if isScript(q.Query) {
		stmts, err := parseScript(q.Query, params)
		if err != nil {
			return nil
		}
		read, written, err := scriptTables(j.project, q.DefaultDataset, stmts)
		if err != nil {
			return nil
		}
		for _, tp := range append(read, written...) {
			if err := s.check(j.identity, "bigquery.tables.getData", datasetResource(tp[0], tp[1])); err != nil {
				return err
			}
		}
		for _, tp := range written {
			if err := s.check(j.identity, "bigquery.tables.updateData", datasetResource(tp[0], tp[1])); err != nil {
				return err
			}
		}
		return nil
	}
	st, err := parseSelectWith(q.Query, params)
	if err != nil || st.constant != nil {
		return nil // no table read
	}
	tp, err := qualify(j.project, q.DefaultDataset, st.path)
	if err != nil {
		return nil
	}
	return s.check(j.identity, "bigquery.tables.getData", datasetResource(tp[0], tp[1]))
}

// awaitDone waits up to timeout for a job to finish and reports whether it
// did.
func (s *Server) awaitDone(ctx context.Context, j *job, timeout time.Duration) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-j.done:
		return true
	case <-timer.C:
		return j.isDone()
	case <-ctx.Done():
		return false
	}
}

// queryParams reads a query's named scalar parameters (STRING, INT64, BOOL,
// DATE, DATETIME, TIMESTAMP) as literals; positional, array and struct
// parameters are refused.
func queryParams(q *bq.JobConfigurationQuery) (map[string]literal, error) {
	if len(q.QueryParameters) == 0 {
		return nil, nil
	}
	out := map[string]literal{}
	for _, qp := range q.QueryParameters {
		if qp.Name == "" {
			return nil, errUnsupported("positional query parameters")
		}
		if qp.ParameterType == nil || qp.ParameterValue == nil {
			return nil, errInvalid("Query parameter %s has no type or value", qp.Name)
		}
		typ := qp.ParameterType.Type
		canon := map[string]string{"STRING": "STRING", "INT64": "INTEGER", "BOOL": "BOOLEAN", "DATE": "DATE", "DATETIME": "DATETIME", "TIMESTAMP": "TIMESTAMP"}[typ]
		if canon == "" {
			return nil, errUnsupported("query parameters of type %s", typ)
		}
		v, err := parseValue(canon, qp.ParameterValue.Value)
		if err != nil {
			return nil, errInvalidQuery("Query parameter '%s': invalid %s value %q", qp.Name, typ, qp.ParameterValue.Value)
		}
		out[strings.ToLower(qp.Name)] = literal{typ: typ, v: v}
	}
	return out, nil
}
