# Reports: Debian's Chromium for the browser test of the HTML report (driven by playwright-core,
# which never downloads a browser of its own here), and xmllint to validate the JUnit XML
# against the XSD in test/fixtures/junit/.
apt_need chromium chromium xmllint libxml2-utils
