"""The only place that talks to the Kubernetes API.

`client` builds the API client; `errors.api_call` maps API failures to the operator's error hierarchy;
`inferenceservices` and `explainablemodels` hold the calls per resource (including the one status patch).
"""
