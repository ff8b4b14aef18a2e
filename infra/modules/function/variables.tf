variable "project_id" {
  description = "Project the function is deployed in."
  type        = string
}

variable "region" {
  description = "Region of the function (and of its event trigger)."
  type        = string
}

variable "name" {
  description = "Function name. It is also the last segment of its URL (https://REGION-PROJECT.cloudfunctions.net/NAME)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,62}$", var.name))
    error_message = "name: lower-case letters, digits and dashes, starting with a letter, at most 63 characters."
  }
}

variable "entry_point" {
  description = "Name the function registers with functions.HTTP or functions.CloudEvent in init()."
  type        = string
}

variable "description" {
  description = "What the function does, shown in the console."
  type        = string
  default     = ""
}

variable "runtime" {
  description = "Cloud Run functions runtime, e.g. go126."
  type        = string

  validation {
    condition     = can(regex("^go1[0-9]{2}$", var.runtime))
    error_message = "runtime: a Go runtime such as go126."
  }
}

variable "source_bucket" {
  description = "Bucket holding the source archive."
  type        = string
}

variable "source_object" {
  description = "Object name of the source archive (zip of the repository)."
  type        = string
}

variable "build_service_account" {
  description = "Full resource name (projects/P/serviceAccounts/EMAIL) of the service account Cloud Build runs the build as."
  type        = string
}

variable "service_account_email" {
  description = "Runtime identity of the function; also the identity of its event trigger."
  type        = string
}

variable "memory" {
  description = "Memory of one instance, e.g. 512Mi."
  type        = string
  default     = "512Mi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.memory))
    error_message = "memory: a quantity such as 512Mi or 1Gi."
  }
}

variable "timeout_seconds" {
  description = "Request timeout: at most 3600 for HTTP functions, 540 for event-driven ones."
  type        = number

  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 3600
    error_message = "timeout_seconds: 1 to 3600."
  }
}

variable "max_instances" {
  description = "Upper bound on instances."
  type        = number
  default     = 10

  validation {
    condition     = var.max_instances >= 1 && var.max_instances <= 1000
    error_message = "max_instances: 1 to 1000."
  }
}

variable "ingress" {
  description = "Ingress setting: ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  type        = string
  default     = "ALLOW_INTERNAL_ONLY"

  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.ingress)
    error_message = "ingress: ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  }
}

variable "environment" {
  description = "Plain environment variables. Never secrets: those go in secret_environment."
  type        = map(string)
  default     = {}
}

variable "secret_environment" {
  description = "Environment variables read from Secret Manager at start: variable name => secret ID (latest version)."
  type        = map(string)
  default     = {}
}

variable "event_trigger" {
  description = "Eventarc trigger for an event-driven function; null for an HTTP function."
  type = object({
    event_type   = string
    filters      = optional(map(string), {})
    pubsub_topic = optional(string)
    retry        = optional(bool, false)
  })
  default = null
}

variable "invokers" {
  description = "Principals given roles/run.invoker on the function's service, by a static label (keys must be known at plan time)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for m in values(var.invokers) : !contains(["allUsers", "allAuthenticatedUsers"], m)])
    error_message = "invokers: functions are private; allUsers and allAuthenticatedUsers are not allowed."
  }
}

variable "labels" {
  description = "Labels for the function."
  type        = map(string)
  default     = {}
}
