// Cell renderers of the dashboard's AG Grids (dash-ag-grid reads window.dashAgGridComponentFunctions).
var dagcomponentfuncs = (window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {});

// The Markets page's coin cell: the coin's name linking to its Overview view (row field "link").
dagcomponentfuncs.CoinLink = function (props) {
    if (!props.data || !props.data.link) { return props.value; }
    return React.createElement("a", {href: props.data.link, className: "ap-coin-link",
                                     title: "Open " + props.value + " on every venue in the Overview"}, props.value);
};
