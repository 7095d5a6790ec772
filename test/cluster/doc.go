// Package cluster tests Portcullis scaled out: three instances on a three-node MariaDB Galera
// Cluster (test/cluster/galera.sh, PORTCULLIS_TEST_GALERA_URLS) with sessions in SQL or in a
// Redis Cluster, under load and through the loss of a node. Without the cluster the tests skip
// with a one-line reason (fail with PORTCULLIS_TEST_REQUIRE_SERVICES=1). Everything is on
// loopback, bounded, and stops what it starts.
package cluster
