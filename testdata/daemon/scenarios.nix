# Paths and derivations for the recorded daemon-protocol sessions (builder = the host's /bin/sh).
let
  sh = name: script: extra: derivation ({
    inherit name;
    system = "x86_64-linux";
    builder = "/bin/sh";
    args = [ "-c" script ];
  } // extra);
in rec {
  # copy to / path-info: a text path with a reference
  dep = builtins.toFile "daemon-dep.txt" "daemon scenario: dependency\n";
  top = builtins.toFile "daemon-top.txt" "daemon scenario: top, refers to ${dep}\n";
  # copy from: made on the remote only (pushed from a seed store)
  fromDep = builtins.toFile "daemon-from-dep.txt" "daemon scenario: remote-only dependency\n";
  fromTop = builtins.toFile "daemon-from-top.txt" "daemon scenario: remote-only top, refers to ${fromDep}\n";
  # remote build with a dependency, all built on the remote (-j0)
  buildDep = sh "daemon-build-dep" ''
    echo "daemon-build-dep: building"
    echo "output of daemon-build-dep" > $out
  '' { };
  src = builtins.toFile "daemon-src.txt" "source file of daemon-build-main\n";
  buildMain = sh "daemon-build-main" ''
    echo "daemon-build-main: reading $buildDep and $src"
    echo "daemon-build-main: stderr line" >&2
    { read -r a < $buildDep; read -r b < $src; echo "$a + $b"; } > $out
  '' { inherit buildDep src; };
  # added with AddToStoreNar by the hand-built sessions (scripts/record-daemon-handbuilt.ts)
  handAdded = builtins.toFile "daemon-hand-added.txt" "added by a hand-built session\n";
  # a failing build
  fail = sh "daemon-build-fail" ''
    echo "daemon-build-fail: about to fail"
    exit 1
  '' { };
}
