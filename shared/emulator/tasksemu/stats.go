package tasksemu

import "maps"

// Stats are cumulative counters since Start.
type Stats struct {
	// Created counts tasks stored by CreateTask (including those whose
	// CreateTask call then failed with an injected fault).
	Created int
	// AlreadyExists counts CreateTask calls rejected as duplicates.
	AlreadyExists int
	// Dispatches counts HTTP requests sent, including injected duplicates.
	Dispatches int
	// StatusCodes counts HTTP responses by status code.
	StatusCodes map[int]int
	// TransportErrors counts dispatches that got no response (connection
	// errors), excluding deadlines.
	TransportErrors int
	// DeadlineExceeded counts dispatches cancelled at the dispatch deadline.
	DeadlineExceeded int
	// Succeeded counts tasks completed by a 2xx response.
	Succeeded int
	// Retries counts failed attempts that were rescheduled.
	Retries int
	// Dropped counts tasks deleted after exhausting their retry config.
	Dropped int
	// InjectedDuplicates counts extra deliveries made by Faults.DuplicateRate.
	InjectedDuplicates int
	// InjectedCreateErrors counts CreateTask calls failed by
	// Faults.CreateErrorRate; InjectedCreateErrorsStored is the subset that
	// failed after storing the task.
	InjectedCreateErrors       int
	InjectedCreateErrorsStored int
	// MaxConcurrent is the highest number of HTTP requests observed in
	// flight at once, per full queue name (duplicates included).
	MaxConcurrent map[string]int
}

func (st Stats) clone() Stats {
	st.StatusCodes = maps.Clone(st.StatusCodes)
	st.MaxConcurrent = maps.Clone(st.MaxConcurrent)
	return st
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats.clone()
}
