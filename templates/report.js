// The page's one script (after the content): the button that opens or closes every data table.
(function(){var b=document.getElementById('toggle-tables');if(!b)return;var open=false;b.addEventListener('click',function(){open=!open;var d=document.querySelectorAll('details.data');for(var i=0;i<d.length;i++){d[i].open=open;}b.textContent=open?'hide all data tables':'show all data tables';});})();
