"""A real single-node Kubernetes for tests and the demo.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler; a node made of containerd + runc,
kubelet, kube-proxy and CNI bridge networking; CoreDNS; KServe's controller manager with its
admission webhooks; Knative Serving's admission webhook. Everything runs as processes of this
machine, stopped by PID, and the host is put back as it was when the cluster stops.

Modules: ``settings`` (what and where), ``processes`` (the one process supervisor), ``pki``,
``manifests`` (CRDs, webhooks, config), ``host`` (bridge, routes, iptables, sysctls, mounts),
``node`` (containerd, kubelet, kube-proxy), ``addons`` (DNS, KServe, Knative), ``cluster`` (start and
stop in order), ``cli`` (``python -m explainops_devtools.cluster up|down|status``).
"""
