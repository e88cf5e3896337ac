package kube

// ResponseLimit is responseLimit, for the tests of package kube_test.
var ResponseLimit = responseLimit
