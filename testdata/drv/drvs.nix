# Derivations whose .drv files (and nix show-derivation JSON) are the goldens here.
# Raw bytes on purpose: a control byte  and invalid UTF-8 ÿ in strings.
let
  mk = attrs: derivation ({ system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; } // attrs);
  fod = mk { name = "fod-sha512"; outputHashMode = "recursive"; outputHashAlgo = "sha512";
    outputHash = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"; };
  lib = mk { name = "lib"; outputs = [ "out" "dev" ]; src = builtins.toFile "src.txt" "source\n"; };
  ca = mk { name = "ca"; __contentAddressed = true; };
in {
  app = mk {
    name = "app";
    inherit fod;
    dev = lib.dev;
    text = "quotes \" backslash \\ newline \n cr \r tab \t ctrl  raw ÿ Ã Ã¼ ðŸ™‚";
    args = [ "-c" "echo \"$text\"\n" "ÿ" ];
  };
  caDep = mk { name = "ca-dep"; inherit ca; };
  impure = mk { name = "impure"; __impure = true; };
}
