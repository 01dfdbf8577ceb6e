//! berth-cgroups: control groups on cgroup v1, v2 and hybrid hosts.
