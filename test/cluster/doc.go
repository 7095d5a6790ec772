// Package cluster tests Portcullis scaled out: three instances on a three-node MariaDB Galera
// Cluster (test/cluster/galera.sh, PORTCULLIS_TEST_GALERA_URLS) with sessions in SQL or in a
// Redis Cluster with replicas that the test starts itself on 127.0.0.1:7301-7309
// (test/testenv/redis-cluster.sh; never the shared cluster of PORTCULLIS_TEST_REDIS_CLUSTER_ADDRS),
// under load and through the loss of a Galera node or a Redis master. Without the cluster the tests skip
// with a one-line reason (fail with PORTCULLIS_TEST_REQUIRE_SERVICES=1). Everything is on
// loopback, bounded, and stops what it starts.
package cluster
