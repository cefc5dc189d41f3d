"""What the selftests share, one job a module:

checks     TestFailure and the assertions that raise it
needs      @needs: what a test needs from the machine
procs      the processes of a test (servers, the agent) and their output
client     traffic: the standard mix, a raw HTTP/1.1 client
scrape     GET, the Prometheus text parser, sums over series, promtool
endpoints  exact checks of both endpoints against what a test sent
bpf        the BPF programs and maps an agent holds
"""
