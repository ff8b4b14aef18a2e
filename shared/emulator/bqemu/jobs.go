package bqemu

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	bq "google.golang.org/api/bigquery/v2"

	"github.com/dropcast/dropcast/shared/emulator/iamemu"
)

// job is one load or query job. The fields after done are written by the
// job's goroutine before it closes done and are read only after that.
type job struct {
	project   string
	id        string
	identity  string // who created it (IAM)
	location  string
	config    *bq.JobConfiguration
	created   time.Time
	started   time.Time // PENDING until then
	due       time.Time // RUNNING until then, DONE once executed
	forceFail bool
	cancelled atomic.Bool
	done      chan struct{}

	ended     time.Time
	err       *apiError // the failure, with the HTTP code query reads answer with
	errResult *bq.ErrorProto
	errs      []*bq.ErrorProto
	load      *bq.JobStatistics3
	result    *queryResult
}

var jobIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func (j *job) isDone() bool {
	select {
	case <-j.done:
		return true
	default:
		return false
	}
}

// fail records a job-ending error: errResult plus all errors collected.
func (j *job) fail(err error, more ...*bq.ErrorProto) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = newAPIError(http.StatusInternalServerError, "internalError", "%s", err.Error())
	}
	j.err = ae
	j.errResult = ae.proto()
	j.errs = append([]*bq.ErrorProto{ae.proto()}, more...)
}

// insertJob implements jobs.insert for load and query configurations.
func (s *Server) insertJob(w http.ResponseWriter, r *http.Request) {
	project := r.PathValue("project")
	var in bq.Job
	if err := readJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	id := iamemu.IdentityFromHTTP(r)
	if err := s.checkInsert(id, project, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	j, err := s.createJob(project, id, &in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.jobResource(j))
}

// checkInsert checks the permissions jobs.insert needs (iam.go).
func (s *Server) checkInsert(identity, project string, in *bq.Job) error {
	if err := s.check(identity, "bigquery.jobs.create", projectResource(project)); err != nil {
		return err
	}
	if in.Configuration == nil || in.Configuration.Load == nil || in.Configuration.Load.DestinationTable == nil {
		return nil
	}
	dst := in.Configuration.Load.DestinationTable
	p := dst.ProjectId
	if p == "" {
		p = project
	}
	for _, perm := range []string{"bigquery.tables.create", "bigquery.tables.updateData", "bigquery.tables.update"} {
		if err := s.check(identity, perm, datasetResource(p, dst.DatasetId)); err != nil {
			return err
		}
	}
	return nil
}

// createJob validates a job request, registers it (409 duplicate on a
// repeated ID) and starts it as identity's.
func (s *Server) createJob(project, identity string, in *bq.Job) (*job, error) {
	if in.Configuration == nil || (in.Configuration.Load == nil) == (in.Configuration.Query == nil) {
		return nil, errUnsupported("job configuration: only load and query jobs are emulated")
	}
	ref := in.JobReference
	if ref == nil {
		ref = &bq.JobReference{}
	}
	if ref.ProjectId != "" && ref.ProjectId != project {
		return nil, errInvalid("Job project %s does not match request project %s", ref.ProjectId, project)
	}
	if err := validateJobConfig(in.Configuration); err != nil {
		return nil, err
	}
	location := ref.Location
	if location == "" {
		location = "US"
	}
	now := time.Now()
	total := s.opts.JobLatency + s.faults.slowJobs()
	config := *in.Configuration
	if config.Load != nil {
		config.JobType = "LOAD"
	} else {
		config.JobType = "QUERY"
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	id := ref.JobId
	if id == "" {
		id = fmt.Sprintf("job_%d_%d", now.UnixNano(), len(s.store.jobs))
	}
	if len(id) > 1024 || !jobIDPattern.MatchString(id) {
		return nil, errInvalid("Invalid job ID %q. Job IDs must be alphanumeric (plus underscores and dashes) and must be at most 1024 characters long.", id)
	}
	if _, ok := s.store.jobs[key(project, id)]; ok {
		return nil, errDuplicate("Job %s:%s.%s", project, strings.ToUpper(location), id)
	}
	j := &job{
		project:  project,
		id:       id,
		identity: identity,
		location: location,
		config:   &config,
		created:  now,
		started:  now.Add(total / 2),
		due:      now.Add(total),
		done:     make(chan struct{}),
	}
	if config.Load != nil {
		j.forceFail = s.faults.takeFailJob()
	}
	s.store.jobs[key(project, id)] = j
	s.jobsWG.Add(1)
	go s.runJob(j)
	s.log.Info("bqemu job inserted", "project", project, "job", id, "type", config.JobType)
	return j, nil
}

// validateJobConfig rejects requests BigQuery refuses at insert time.
func validateJobConfig(c *bq.JobConfiguration) error {
	if l := c.Load; l != nil {
		if l.DestinationTable == nil || l.DestinationTable.DatasetId == "" || l.DestinationTable.TableId == "" {
			return errInvalid("Required parameter is missing: destinationTable")
		}
		if len(l.SourceUris) == 0 {
			return errInvalid("Empty source uris list")
		}
	}
	if q := c.Query; q != nil && strings.TrimSpace(q.Query) == "" {
		return errInvalid("Required parameter is missing: query")
	}
	return nil
}

// runJob waits out the job's latency, executes it and marks it DONE.
func (s *Server) runJob(j *job) {
	defer s.jobsWG.Done()
	defer close(j.done)
	timer := time.NewTimer(time.Until(j.due))
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-s.ctx.Done():
		j.fail(newAPIError(http.StatusInternalServerError, "stopped", "Job execution was cancelled: the emulator shut down"))
		j.ended = time.Now()
		return
	}
	switch {
	case j.cancelled.Load():
		j.fail(newAPIError(http.StatusBadRequest, "stopped", "Job execution was cancelled: User requested cancellation"))
	case j.config.Load != nil && j.forceFail:
		j.fail(errBackend())
		j.load = &bq.JobStatistics3{}
	case j.config.Load != nil:
		s.executeLoad(j)
	default:
		s.executeQuery(j)
	}
	j.ended = time.Now()
	outcome := "success"
	if j.errResult != nil {
		outcome = j.errResult.Message
	}
	s.log.Info("bqemu job done", "project", j.project, "job", j.id, "outcome", outcome)
}

// jobState is the job's state as observed at now, without waiting.
func (j *job) jobState(now time.Time) string {
	switch {
	case j.isDone():
		return "DONE"
	case now.Before(j.started):
		return "PENDING"
	default:
		return "RUNNING"
	}
}

// jobResource is the wire form of a job as observed now.
func (s *Server) jobResource(j *job) *bq.Job {
	state := j.jobState(time.Now())
	out := &bq.Job{
		Kind:          "bigquery#job",
		Id:            fmt.Sprintf("%s:%s.%s", j.project, j.location, j.id),
		JobReference:  &bq.JobReference{ProjectId: j.project, JobId: j.id, Location: j.location},
		Configuration: j.config,
		SelfLink:      s.Endpoint() + "projects/" + j.project + "/jobs/" + j.id + "?location=" + j.location,
		Status:        &bq.JobStatus{State: state},
		Statistics:    &bq.JobStatistics{CreationTime: millis(j.created)},
	}
	if state != "PENDING" {
		out.Statistics.StartTime = millis(j.started)
	}
	if state != "DONE" {
		return out
	}
	out.Statistics.EndTime = millis(j.ended)
	out.Status.ErrorResult = j.errResult
	out.Status.Errors = j.errs
	if j.load != nil {
		out.Statistics.Load = j.load
	}
	if j.config.Query != nil {
		out.Statistics.Query = &bq.JobStatistics2{StatementType: "SELECT", ForceSendFields: []string{"TotalBytesProcessed"}}
		if j.result != nil && j.result.script {
			out.Statistics.Query.StatementType = "SCRIPT"
		}
		if j.result != nil {
			out.Statistics.Query.TotalBytesProcessed = j.result.bytesProcessed
			out.Statistics.TotalBytesProcessed = j.result.bytesProcessed
		}
	}
	return out
}

// lookupJob finds a job, honouring an optional location parameter.
func (s *Server) lookupJob(r *http.Request) (*job, error) {
	project, id := r.PathValue("project"), r.PathValue("job")
	location := r.URL.Query().Get("location")
	s.store.mu.Lock()
	j, ok := s.store.jobs[key(project, id)]
	s.store.mu.Unlock()
	if !ok || !locationMatches(location, j.location) {
		loc := location
		if loc == "" {
			loc = "US"
		}
		return nil, errNotFound("Job %s:%s.%s", project, strings.ToUpper(loc), id)
	}
	return j, nil
}

// locationMatches reports whether a jobs.get location parameter finds a job
// running in jobLocation. The parameter may be left out only for jobs in the
// US or EU multi-regions: "You must specify the location to run the job for
// the following scenarios: * If the location to run a job is not in the `us`
// or the `eu` multi-regional location" (jobs.get reference).
func locationMatches(param, jobLocation string) bool {
	if param == "" {
		return strings.EqualFold(jobLocation, "US") || strings.EqualFold(jobLocation, "EU")
	}
	return strings.EqualFold(param, jobLocation)
}

// awaitDue blocks until the job is DONE if its latency has elapsed, so that
// a poll after the due time always sees DONE.
func (s *Server) awaitDue(ctx context.Context, j *job) {
	if time.Now().Before(j.due) {
		return
	}
	select {
	case <-j.done:
	case <-ctx.Done():
	}
}

// getJob implements jobs.get.
func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	j, err := s.lookupJob(r)
	if err == nil {
		err = s.checkJobAccess(r, j, "bigquery.jobs.get")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.awaitDue(r.Context(), j)
	writeJSON(w, http.StatusOK, s.jobResource(j))
}

// cancelJob implements jobs.cancel: a job not yet executed ends stopped.
func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) {
	j, err := s.lookupJob(r)
	if err == nil {
		err = s.checkJobAccess(r, j, "bigquery.jobs.update")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	j.cancelled.Store(true)
	writeJSON(w, http.StatusOK, &bq.JobCancelResponse{Kind: "bigquery#jobCancelResponse", Job: s.jobResource(j)})
}

// timeoutParam reads a timeoutMs value, defaulting to BigQuery's 10 s.
func timeoutParam(v string) time.Duration {
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms < 0 {
		return 10 * time.Second
	}
	return time.Duration(ms) * time.Millisecond
}
