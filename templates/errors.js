// First in <head>: a script error shows on the page (and fails the browser test) instead of only in a console.
window.onerror=function(m,s,l,c){var d=document.getElementById('js-errors');if(d){var p=document.createElement('p');p.className='js-error';p.textContent='script error: '+m+' ('+l+':'+c+')';d.appendChild(p);d.hidden=false;}};
