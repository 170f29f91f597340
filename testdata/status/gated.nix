# Builds for the status tests (builder = the host's /bin/sh). `gated` runs until
# the file /gate/go appears (the test's directory, a sandbox path), so a test
# can look at the host while it runs; `tag` makes each test's derivation new.
{ tag ? "t" }:
let
  sh = name: script: derivation {
    inherit name tag;
    system = "x86_64-linux";
    builder = "/bin/sh";
    args = [ "-c" script ];
  };
in {
  gated = sh "status-gated" ''
    echo "status-gated: waiting for the gate"
    while [ ! -e /gate/go ]; do /bin/sleep 0.1; done
    echo "status-gated: through"
    echo done > $out
  '';
  quick = sh "status-quick" ''
    echo "status-quick: built"
    echo quick > $out
  '';
  broken = sh "status-broken" ''
    echo "status-broken: about to fail"
    exit 3
  '';
}
