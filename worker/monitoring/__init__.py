"""The demo's monitoring: a real Prometheus scraping the demo's processes, the chart's alert
rules played at demo speed, the dashboard's queries asked of it, and the PNG timeline."""
