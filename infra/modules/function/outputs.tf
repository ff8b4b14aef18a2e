output "name" {
  description = "Function name."
  value       = google_cloudfunctions2_function.this.name
}

output "url" {
  description = "HTTPS URL of the function (https://REGION-PROJECT.cloudfunctions.net/NAME)."
  value       = google_cloudfunctions2_function.this.url
}

output "service" {
  description = "Cloud Run service behind the function."
  value       = google_cloudfunctions2_function.this.service_config[0].service
}
