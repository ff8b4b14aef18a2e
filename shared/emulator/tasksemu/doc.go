// Package tasksemu runs an in-process Cloud Tasks emulator: a gRPC server
// implementing google.cloud.tasks.v2.CloudTasks on loopback, so the real
// cloud.google.com/go/cloudtasks/apiv2 client can talk to it, and a dispatcher
// that delivers HTTP tasks to their URLs the way the service does.
//
// Connect a client with
//
//	cloudtasks.NewClient(ctx,
//		option.WithEndpoint(srv.Addr()),
//		option.WithoutAuthentication(),
//		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
//
// What follows the real service (each point rests on a fixture in
// shared/conformance/fixtures/tasks-*.txtar, which quotes the document):
//   - Queue and task names, task ID charset and length, the 100KB task size
//     of the API reference (the stricter of the two documented limits),
//     schedule_time at most 30 days ahead (unset or past: now),
//     dispatch_deadline in [15s, 30m] (0 means the 10 minute default);
//     violations are InvalidArgument.
//   - Named-task deduplication: a name that exists, or whose task ran,
//     was dropped, deleted or purged within Options.TombstoneTTL (default
//     24 hours, the documented maximum), is AlreadyExists.
//   - Dispatch of HttpRequest tasks with X-CloudTasks-QueueName,
//     X-CloudTasks-TaskName, X-CloudTasks-TaskRetryCount (every earlier
//     attempt), X-CloudTasks-TaskExecutionCount (earlier attempts answered
//     with a status other than 5xx), X-CloudTasks-TaskETA and, after an
//     attempt that got a response, X-CloudTasks-TaskPreviousResponse.
//     User-Agent is Google-Cloud-Tasks; Content-Type is only what the task
//     sets; task headers named X-CloudTasks-*, X-Google-* or X-AppEngine-*
//     are dropped.
//   - Any 2xx is success; anything else, a transport error or the dispatch
//     deadline is a failed attempt, retried per the queue's RetryConfig
//     (min_backoff doubled max_doublings times, then linear, capped at
//     max_backoff) until max_attempts and max_retry_duration are both used up.
//     A 429 or 503 with Retry-After (seconds or HTTP date) is retried after
//     the longer of that delay and the backoff.
//   - Per queue token-bucket max_dispatches_per_second and
//     max_concurrent_dispatches, schedule_time, pause and resume.
//
// Deliberate simplifications:
//   - Only HTTP targets. App Engine tasks and queue-level http_target are
//     Unimplemented.
//   - OIDC and OAuth tokens become "Authorization: Bearer tasksemu-oidc:EMAIL:AUDIENCE"
//     (or tasksemu-oauth:EMAIL:SCOPE). It is not a JWT and carries no signature.
//   - Durations are kept as given: min_backoff, max_backoff and
//     max_retry_duration are not truncated to whole seconds, so tests can use
//     milliseconds. Options.DeadlineScale shrinks dispatch deadlines while the
//     API still enforces the real [15s, 30m] range.
//   - max_burst_size is min(100, max(1, ceil(max_dispatches_per_second))).
//   - The service's own throttling on 429/503, queue-name reuse delay after
//     DeleteQueue and CMEK are not emulated. IAM is checked only when
//     Options.Authorizer is set (see iamRules for the documented
//     method → permission table); queue IAM policies are not stored.
//   - ListTasks and ListQueues ignore filters and order by creation / name.
//
// Faults (see Faults) inject duplicate deliveries, ambiguous CreateTask
// failures and dispatch delay, deterministically from a seed.
package tasksemu
