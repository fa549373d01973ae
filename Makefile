# Shortcuts; the scripts are the source of truth (README).
.PHONY: test lint demo bench fmt
test:
	scripts/test.sh
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
fmt:
	cargo fmt --all
demo:
	scripts/demo.sh
bench:
	bench/run_assign.sh
	bench/run_signin.sh
	bench/run_live.sh
	bench/run_repair.sh
	bench/run_pg.sh
