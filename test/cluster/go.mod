module github.com/envops/kubectl-envops/test/cluster

go 1.26
