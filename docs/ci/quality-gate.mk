# Quality gate for CI: fails when a codec's results regress against a stored baseline.
#
#   make -f quality-gate.mk quality-baseline   # record today's numbers; commit the JSON
#   make -f quality-gate.mk quality-gate       # compare; exit status 2 from make on a regression
#
# Variables: NCCLI (command), SAMPLES (images or a directory), CODECS, BASELINE, REPORT.
NCCLI ?= nccli
SAMPLES ?= tests/fixtures/photos
CODECS ?= -c webp -c jpeg
BASELINE ?= quality-baseline.json
REPORT ?= quality-report.json
TOLERANCES ?= --tolerance psnr=0.05 --tolerance psnr_y=0.05 --tolerance ms_ssim=0.0005 \
              --tolerance bpp=1%
EVAL = $(NCCLI) eval $(SAMPLES) $(CODECS) --sweep --no-cache --force

.PHONY: quality-baseline quality-gate

quality-baseline:
	$(EVAL) --json $(BASELINE)

quality-gate:
	$(EVAL) --json $(REPORT) --markdown quality-summary.md --baseline $(BASELINE) $(TOLERANCES)
